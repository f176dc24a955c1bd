import numpy as np
import pytest

from twin3d.equipment import EQUIPMENT, equipment_asset, make_equipment
from twin3d.errors import InputError

REQUIRED = ["cnc_mill", "centrifugal_pump", "electric_motor", "belt_conveyor", "storage_tank", "robot_arm"]

# believable overall sizes in metres: (min, max) of the largest dimension
SIZE = {
    "cnc_mill": (1.5, 4.0),
    "centrifugal_pump": (0.5, 2.0),
    "electric_motor": (0.4, 1.5),
    "belt_conveyor": (2.0, 12.0),
    "storage_tank": (1.5, 6.0),
    "robot_arm": (1.0, 3.0),
    "control_cabinet": (1.0, 3.0),
}


def _open_edges(mesh):
    e = mesh.extract_feature_edges(boundary_edges=True, non_manifold_edges=True, feature_edges=False,
                                   manifold_edges=False)
    return e.n_cells


@pytest.mark.parametrize("kind", sorted(EQUIPMENT))
def test_equipment_is_watertight_triangles_with_named_parts(kind):
    mesh, parts = make_equipment(kind)
    assert mesh.is_all_triangles
    assert _open_edges(mesh) == 0, "every part is a closed shell"
    pid = np.asarray(mesh.cell_data["part_id"])
    assert set(np.unique(pid)) == set(range(len(parts)))
    assert len({p.name for p in parts}) == len(parts) >= 3
    # each part encloses positive volume with outward normals
    for i, p in enumerate(parts):
        sub = mesh.extract_cells(np.flatnonzero(pid == i)).extract_surface(algorithm="dataset_surface")
        assert _open_edges(sub) == 0, p.name
        assert sub.volume > 0, p.name
    lo, hi = np.array(mesh.bounds).reshape(3, 2).T
    assert abs(lo[2]) < 1e-6, "stands on z = 0"
    lo_s, hi_s = SIZE[kind]
    assert lo_s <= (hi - lo).max() <= hi_s


def test_required_kinds_and_part_names():
    assert set(REQUIRED) <= set(EQUIPMENT)
    _, parts = make_equipment("electric_motor")
    assert {"housing", "shaft", "fan_cover"} <= {p.name for p in parts}


def test_parameters_change_geometry():
    small, _ = make_equipment("storage_tank", diameter=1.0, height=2.0)
    big, _ = make_equipment("storage_tank", diameter=2.0, height=4.0)
    assert big.volume > 6 * small.volume
    arm1, _ = make_equipment("robot_arm", joints=(0, 0, 0, 0, 0, 0))
    arm2, _ = make_equipment("robot_arm", joints=(0, -60, 90, 0, 0, 0))
    assert arm1.bounds[5] > arm2.bounds[5], "a bent arm is lower than a straight one"


def test_bad_equipment_input():
    with pytest.raises(InputError, match="valid: .*cnc_mill"):
        make_equipment("lathe")
    with pytest.raises(InputError, match="unknown parameter"):
        make_equipment("electric_motor", lenght=1.0)
    with pytest.raises(InputError, match="positive"):
        make_equipment("electric_motor", length=-1.0)
    with pytest.raises(InputError, match="6 finite angles"):
        make_equipment("robot_arm", joints=(0, 0))


def test_equipment_asset_shares_cached_mesh():
    a = equipment_asset("a", "centrifugal_pump")
    b = equipment_asset("b", "centrifugal_pump")
    assert a.mesh is b.mesh and a.asset_type == "centrifugal_pump" and a.semantic_label == "centrifugal_pump"
