"""Sensor streams: AI4I simulator, CSV loading and validation, time alignment, assets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_real_data
from pydantic import TypeAdapter, ValidationError

from twin3d.errors import InputError, MissingFileError
from twin3d.scene import Asset, Scene
from twin3d.sensors import (
    AI4I_COLUMNS,
    AI4I_QUANTITIES,
    CsvSource,
    SensorSource,
    SimulatorSource,
    align_series,
    apply_sensor_source,
    apply_sensor_sources,
    attach_sensors,
    machine_streams,
    product_type_codes,
    read_sensor_csv,
    sensor_table,
    simulate_ai4i,
    to_ai4i_schema,
    training_table,
)


@pytest.fixture(scope="module")
def ai4i_csv() -> Path:
    path = require_real_data("ai4i2020.csv")
    return path


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate_ai4i(4, 5000, seed=11)


# --------------------------------------------------------------------------- simulator
def test_simulator_is_seeded_and_reproducible():
    a = simulate_ai4i(3, 400, seed=5)
    b = simulate_ai4i(3, 400, seed=5)
    c = simulate_ai4i(3, 400, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["torque"].to_numpy(), c["torque"].to_numpy())
    assert len(a) == 3 * 400
    assert a.groupby("machine").size().tolist() == [400, 400, 400]
    assert np.array_equal(a.loc[a.machine == 2, "step"].to_numpy(), np.arange(400))
    assert np.allclose(a.loc[a.machine == 0, "time"].to_numpy(), np.arange(400) * 60.0)
    one = simulate_ai4i(1, 1, seed=0)
    assert len(one) == 1 and set(AI4I_QUANTITIES) <= set(one.columns)


def test_simulator_follows_the_documented_failure_rules(sim):
    dT = sim.process_temperature - sim.air_temperature
    power = sim.torque * sim.rotational_speed * 2 * np.pi / 60
    strain = sim.tool_wear * sim.torque
    limit = sim.product_type.map({"L": 11000, "M": 12000, "H": 13000})
    assert np.array_equal(sim.HDF.astype(bool), (dT < 8.6) & (sim.rotational_speed < 1380))
    assert np.array_equal(sim.PWF.astype(bool), (power < 3500) | (power > 9000))
    assert np.array_equal(sim.OSF.astype(bool), strain > limit)
    modes = sim[["TWF", "HDF", "PWF", "OSF", "RNF"]].any(axis=1)
    assert np.array_equal(sim.machine_failure.astype(bool), modes)
    for _, g in sim.groupby("machine"):
        wear = g.tool_wear.to_numpy()
        add = g.product_type.map({"L": 2, "M": 3, "H": 5}).to_numpy()[:-1]
        step = np.diff(wear)
        reset = wear[1:] == 0
        # tool wear grows by 2/3/5 min per L/M/H product, and is reset at tool change
        assert np.array_equal(step[~reset], add[~reset])
        assert np.all(wear[:-1][reset] >= 200) and np.all(wear[:-1][reset] <= 245)
        # tool-wear failures happen only at a tool change
        twf = np.flatnonzero(g.TWF.to_numpy()[:-1])
        assert np.all(reset[twf])
    # readings at the data set's resolution
    assert np.allclose(sim.torque * 10, np.round(sim.torque * 10))
    assert np.allclose(sim.rotational_speed, np.round(sim.rotational_speed))
    assert (sim.torque > 0).all()


def test_simulator_matches_real_ai4i_statistics(ai4i_csv):
    real = read_sensor_csv(ai4i_csv)
    s = simulate_ai4i(10, 10000, seed=1)
    for col, tol in [("air_temperature", 0.5), ("process_temperature", 0.5), ("rotational_speed", 20), ("torque", 0.5)]:
        assert abs(s[col].mean() - real[col].mean()) < tol, col
        assert 0.85 < s[col].std() / real[col].std() < 1.15, col
    dT_s = s.process_temperature - s.air_temperature
    dT_r = real.process_temperature - real.air_temperature
    assert abs(dT_s.mean() - dT_r.mean()) < 0.3 and 0.85 < dT_s.std() / dT_r.std() < 1.15
    assert abs(s.tool_wear.mean() - real.tool_wear.mean()) < 10
    # failure rates: overall and per deterministic/tool mode, within a factor 1.5 of the data
    for col in ["machine_failure", "HDF", "PWF", "OSF", "TWF"]:
        ratio = s[col].mean() / real[col].mean()
        assert 1 / 1.5 < ratio < 1.5, (col, ratio)
    # type mix of the public data
    mix = s.product_type.value_counts(normalize=True)
    assert abs(mix["L"] - 0.6) < 0.02 and abs(mix["H"] - 0.1) < 0.02


def test_simulator_operating_point_changes_risk():
    calm = simulate_ai4i(2, 3000, seed=2)
    stressed = simulate_ai4i(2, 3000, seed=2, torque_mean=55.0)
    assert stressed.machine_failure.mean() > 2 * calm.machine_failure.mean()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"n_machines": 0}, "n_machines"),
        ({"n_steps": -3}, "n_steps"),
        ({"product_mix": (1, 2)}, "product_mix"),
        ({"tool_life": (240, 200)}, "tool_life"),
        ({"times": [0.0, 1.0, 1.0]}, "strictly increasing"),
        ({"initial_wear": "sometimes"}, "initial_wear"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_simulator_rejects_bad_arguments(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        simulate_ai4i(**kwargs)


# --------------------------------------------------------------------------- CSV
def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_ai4i_csv_recognises_the_schema(ai4i_csv):
    t = read_sensor_csv(ai4i_csv, required=list(AI4I_QUANTITIES))
    assert len(t) == 10000
    assert set(AI4I_QUANTITIES) <= set(t.columns)
    assert int(t.machine_failure.sum()) == 339
    assert t.attrs["original_columns"]["torque"] == "Torque [Nm]"


def test_read_csv_with_a_column_mapping(tmp_path):
    p = _write(tmp_path, "user.csv", "ts,T_amb,T_proc,n,M,wear,kind\n0,300.1,310.2,1500,40.5,10,L\n60,300.2,310.1,1490,41.0,12,H\n")
    mapping = {"air_temperature": "T_amb", "process_temperature": "T_proc", "rotational_speed": "n",
               "torque": "M", "tool_wear": "wear", "product_type": "kind"}
    t = read_sensor_csv(p, columns=mapping, required=list(AI4I_QUANTITIES))
    assert t.torque.tolist() == [40.5, 41.0]
    assert product_type_codes(t.product_type).tolist() == [0.0, 2.0]
    with pytest.raises(InputError, match=r"not in the table: \['Tq'\].*available columns: \['ts', 'T_amb'"):
        read_sensor_csv(p, columns={"torque": "Tq"})


def test_missing_columns_are_listed_with_the_available_ones(tmp_path):
    p = _write(tmp_path, "m.csv", "Type,Air temperature [K],Torque [Nm]\nL,300,40\n")
    with pytest.raises(InputError) as err:
        read_sensor_csv(p, required=list(AI4I_QUANTITIES))
    msg = str(err.value)
    assert str(p) in msg
    assert "missing columns ['process_temperature', 'rotational_speed', 'tool_wear']" in msg
    assert "available columns: ['product_type', 'air_temperature', 'torque']" in msg


def test_non_numeric_nan_and_inf_values_are_reported_with_rows(tmp_path):
    head = "Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min]\n"
    good = "L,300,310,1500,40,10\n"
    p = _write(tmp_path, "bad.csv", head + good + "L,300,310,fast,40,10\n" + good + "M,300,310,1500,40,n/a?\n")
    with pytest.raises(InputError, match=r"'rotational_speed' has non-numeric values at rows 2 \(file lines 3\): 'fast'"):
        read_sensor_csv(p, required=list(AI4I_QUANTITIES))
    p = _write(tmp_path, "nan.csv", head + good + good + "L,300,,1500,40,10\n")
    with pytest.raises(InputError, match=r"'process_temperature' has missing \(NaN/empty\) values at rows 3 \(file lines 4\)"):
        read_sensor_csv(p, required=list(AI4I_QUANTITIES))
    p = _write(tmp_path, "inf.csv", head + "L,300,310,1500,inf,10\n" + good)
    with pytest.raises(InputError, match=r"'torque' has infinite values at rows 1 \(file lines 2\)"):
        read_sensor_csv(p, required=list(AI4I_QUANTITIES))
    p = _write(tmp_path, "type.csv", head + good + "X,300,310,1500,40,10\n")
    with pytest.raises(InputError, match=r"'product_type' has invalid values at rows 2 .*'X'.*valid: L, M, H"):
        read_sensor_csv(p, required=list(AI4I_QUANTITIES))


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_sensor_csv(_write(tmp_path, "e.csv", ""))
    with pytest.raises(InputError, match="no data rows"):
        read_sensor_csv(_write(tmp_path, "h.csv", "a,b,c\n"))
    with pytest.raises(FileNotFoundError):
        read_sensor_csv(tmp_path / "nope.csv")
    with pytest.raises(MissingFileError, match=r"nope\.csv: no such sensor CSV file") as err:
        read_sensor_csv(tmp_path / "nope.csv")
    assert isinstance(err.value, InputError) and err.value.filename == str(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="folder"):
        read_sensor_csv(tmp_path)


def test_training_table_ai4i_and_generic(ai4i_csv, tmp_path):
    X, y, target = training_table(read_sensor_csv(ai4i_csv))
    assert target == "machine_failure" and list(X.columns) == list(AI4I_QUANTITIES)
    assert y.dtype.kind == "i" and int(y.sum()) == 339  # failure-mode flags and IDs left out
    # generic: temperature / vibration / pressure with a named target
    p = _write(tmp_path, "g.csv", "temperature,vibration,pressure,failed\n70,2.1,5.0,0\n95,7.5,5.1,1\n71,2.0,4.9,0\n")
    X, y, target = training_table(read_sensor_csv(p), target="failed")
    assert list(X.columns) == ["temperature", "vibration", "pressure"] and y.tolist() == [0, 1, 0]
    with pytest.raises(InputError, match=r"no target column given.*available columns"):
        training_table(read_sensor_csv(p))
    with pytest.raises(InputError, match=r"missing columns \['broken'\]"):
        training_table(read_sensor_csv(p), target="broken")
    one = _write(tmp_path, "one.csv", "temperature,failed\n70,0\n71,0\n")
    with pytest.raises(InputError, match="single class"):
        training_table(read_sensor_csv(one), target="failed")
    txt = _write(tmp_path, "txt.csv", "temperature,site,failed\n70,north,0\n71,south,1\n")
    with pytest.raises(InputError, match=r"columns \['site'\] are not numeric"):
        training_table(read_sensor_csv(txt), target="failed")
    X, _, _ = training_table(read_sensor_csv(txt), target="failed", features=["temperature"])
    assert list(X.columns) == ["temperature"]
    lab = _write(tmp_path, "lab.csv", "temperature,failed\n70,0\n71,2\n")
    with pytest.raises(InputError, match="0/1 labels"):
        training_table(read_sensor_csv(lab), target="failed")


# --------------------------------------------------------------------------- time & assets
def test_align_series_against_analytic_values():
    t = np.array([0.0, 10.0, 20.0])
    v = np.array([0.0, 100.0, 50.0])
    nt = np.array([-5.0, 0.0, 5.0, 10.0, 14.0, 20.0, 30.0])
    assert np.allclose(align_series(t, v, nt), [0, 0, 50, 100, 80, 50, 50])
    assert np.allclose(align_series(t, v, nt, method="previous"), [0, 0, 0, 100, 100, 50, 50])
    assert np.allclose(align_series(t, v, nt, method="nearest"), [0, 0, 0, 100, 100, 50, 50])
    two = align_series(t, np.c_[v, 2 * v], nt)
    assert two.shape == (7, 2) and np.allclose(two[:, 1], 2 * two[:, 0])
    with pytest.raises(InputError, match="strictly increasing"):
        align_series(np.array([0.0, 0.0]), np.array([1.0, 2.0]), nt)
    with pytest.raises(InputError, match="method"):
        align_series(t, v, nt, method="cubic")


def test_attach_sensors_and_read_them_back():
    table = simulate_ai4i(1, 50, seed=3)
    a = Asset("mill")
    t = table.time.to_numpy()
    names = attach_sensors(a, table, t)
    assert names == list(AI4I_QUANTITIES)
    assert a.sensors["torque"].unit == "Nm" and a.sensors["air_temperature"].unit == "K"
    assert a.sensors["rotational_speed"].unit == "rpm" and a.sensors["tool_wear"].unit == "min"
    back = sensor_table(a, AI4I_QUANTITIES)
    assert np.allclose(back.torque, table.torque)
    assert np.array_equal(back.product_type, product_type_codes(table.product_type))
    # resampled onto a coarser timeline: interpolated temperatures, held wear/type
    nt = np.array([0.0, 90.0, 150.0])
    b = Asset("mill2")
    attach_sensors(b, table, t, new_times=nt)
    assert np.isclose(b.sensors["torque"].values[1], (table.torque[1] + table.torque[2]) / 2)
    assert b.sensors["tool_wear"].values[2] == table.tool_wear[2]
    with pytest.raises(InputError, match="no sensors"):
        sensor_table(a, ["vibration"])


def test_machine_streams_and_time_column(tmp_path):
    p = _write(tmp_path, "s.csv", "machine,t,temperature\nA,20,3\nA,0,1\nB,0,5\nA,10,2\n")
    streams = machine_streams(read_sensor_csv(p), machine_column="machine", time_column="t")
    tA, rowsA = streams["A"]
    assert tA.tolist() == [0, 10, 20] and rowsA.temperature.tolist() == [1, 2, 3]
    dup = _write(tmp_path, "d.csv", "machine,t,temperature\nA,0,3\nA,0,1\n")
    with pytest.raises(InputError, match=r"repeats a time for machine 'A' at rows 2"):
        machine_streams(read_sensor_csv(dup), machine_column="machine", time_column="t")


def test_spec_sources_simulator_and_csv(tmp_path):
    scene = Scene("f")
    for name in ("mill_01", "mill_02", "pump"):
        scene.add(Asset(name))
    # CSV in a user schema, two machines, its own times -> resampled onto the timeline
    csv = _write(
        tmp_path, "plant.csv",
        "id,sec,temp,vib\np1,0,60,1.0\np1,100,70,3.0\np2,0,40,0.5\np2,100,40,0.5\n",
    )
    sources = {
        "mill_01": {"source": "simulator", "seed": 1, "steps": 30},
        "mill_02": SimulatorSource(seed=1, steps=30, torque_mean=50.0),
        "pump": {"source": "csv", "path": "plant.csv", "machine_column": "id", "machine": "p1",
                 "time_column": "sec", "columns": {"temperature": "temp", "vibration": "vib"},
                 "units": {"temperature": "degC", "vibration": "mm/s"}},
    }
    times = apply_sensor_sources(scene, sources, base_dir=tmp_path)
    assert times.tolist() == list(np.arange(30) * 60.0)
    assert scene.times is not None and scene.n_frames == 30
    m1, m2, pump = (scene.get(n) for n in ("mill_01", "mill_02", "pump"))
    # same seed, different asset names -> different but reproducible streams
    assert not np.array_equal(m1.sensors["torque"].values, m2.sensors["torque"].values)
    again = Asset("mill_01")
    apply_sensor_source(again, {"source": "simulator", "seed": 1}, times=times)
    assert np.array_equal(again.sensors["torque"].values, m1.sensors["torque"].values)
    # the CSV stream: linear in time between 0 s (60) and 100 s (70), held after
    assert pump.sensors["temperature"].unit == "degC"
    assert np.allclose(pump.sensors["temperature"].values[:3], [60, 66, 70])
    assert np.allclose(pump.sensors["temperature"].values[-1], 70)
    with pytest.raises(InputError, match=r"no rows with id = 'p9'.*machines in the file: \['p1', 'p2'\]"):
        apply_sensor_source(Asset("x"), CsvSource(path=str(csv), machine_column="id", machine="p9"), times=times)


def test_spec_models_are_strict():
    adapter = TypeAdapter(SensorSource)
    assert isinstance(adapter.validate_python({"source": "csv", "path": "a.csv"}), CsvSource)
    with pytest.raises(ValidationError, match="extra"):
        adapter.validate_python({"source": "simulator", "sed": 3})
    with pytest.raises(ValidationError):
        adapter.validate_python({"source": "database"})
    with pytest.raises(ValidationError, match="machine"):
        CsvSource(path="a.csv", machine_column="id")


def test_ai4i_schema_roundtrip(tmp_path):
    table = simulate_ai4i(1, 20, seed=0)
    out = tmp_path / "sim.csv"
    to_ai4i_schema(table).to_csv(out, index=False)
    header = out.read_text().splitlines()[0].split(",")
    assert header[0] == "UDI" and all(h in header for h in AI4I_COLUMNS.values())
    back = read_sensor_csv(out, required=list(AI4I_QUANTITIES))
    assert np.allclose(back.torque, table.torque) and back.product_type.tolist() == table.product_type.tolist()


# --------------------------------------------------------------------------- the spec section
def _spec(tmp_path, sensors: str, name="line.yaml"):
    p = tmp_path / name
    p.write_text(
        "name: line\n"
        "assets:\n"
        "  - name: mill\n"
        "    kind: cnc_mill\n"
        f"    sensors: {sensors}\n"
        "  - name: mill_b\n"
        "    kind: cnc_mill\n"
        f"    sensors: {sensors}\n"
    )
    return p


def test_spec_section_attaches_streams_on_one_timeline(tmp_path):
    from twin3d.spec import build_scene, load_spec

    scene = build_scene(load_spec(_spec(tmp_path, "{source: simulator, steps: 20, seed: 2}")))
    a, b = scene.get("mill"), scene.get("mill_b")
    assert set(AI4I_QUANTITIES) <= set(a.sensors) and a.metadata["sensor_source"] == "simulator"
    assert scene.n_frames == 20 and np.array_equal(a.sensors["torque"].times, b.sensors["torque"].times)
    # same as the library call, seeded per asset name
    again = Asset("mill")
    apply_sensor_source(again, {"source": "simulator", "seed": 2}, times=scene.times)
    assert np.array_equal(again.sensors["torque"].values, a.sensors["torque"].values)
    assert not np.array_equal(a.sensors["torque"].values, b.sensors["torque"].values)


def test_spec_section_reads_a_csv_once_relative_to_the_spec(tmp_path, monkeypatch):
    import twin3d.sensors.tables as tables
    from twin3d.spec import build_scene

    (tmp_path / "data").mkdir()
    to_ai4i_schema(simulate_ai4i(1, 15, seed=4)).to_csv(tmp_path / "data" / "m.csv", index=False)
    calls = []
    orig = tables.read_sensor_csv
    monkeypatch.setattr(tables, "read_sensor_csv", lambda *a, **k: calls.append(a) or orig(*a, **k))
    scene = build_scene(_spec(tmp_path, "{source: csv, path: data/m.csv}"))
    assert len(calls) == 1  # two assets, one parse
    assert scene.n_frames == 15
    assert scene.get("mill_b").metadata["sensor_source"] == str(tmp_path / "data" / "m.csv")


def test_spec_with_a_missing_sensor_csv_names_the_spec_and_section(tmp_path):
    from twin3d.spec import build_scene, load_spec

    spec_path = _spec(tmp_path, "{source: csv, path: missing.csv}")
    with pytest.raises(MissingFileError) as err:
        build_scene(load_spec(spec_path))
    msg = str(err.value)
    assert f"{spec_path}:5:" in msg and "assets[0].sensors" in msg
    assert str(tmp_path / "missing.csv") in msg and "no such sensor CSV" in msg
    assert isinstance(err.value, FileNotFoundError) and err.value.filename == str(tmp_path / "missing.csv")


# --------------------------------------------------------------------------- budgets (issue 14)
def test_simulator_refuses_a_request_above_the_memory_budget():
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    with memory_budget_set("1M"):
        simulate_ai4i(1, 1000)  # 240 kB: fits
        with pytest.raises(BudgetError) as err:
            simulate_ai4i(10, 1000)
    assert "needs about 2.29 MiB (10 machine(s) x 1,000 steps x 240 B)" in str(err.value)
    with pytest.raises(BudgetError, match="10,000,000,000 steps"):  # refused before np.arange(10^10)
        simulate_ai4i(1, 10**10)


def test_spec_sensor_steps_are_counted_over_all_assets_before_the_first_stream(tmp_path, monkeypatch):
    import twin3d.sensors.simulator as simulator
    from twin3d.budgets import count_limit_set
    from twin3d.errors import BudgetError
    from twin3d.spec import build_scene

    calls = []
    real = simulator.simulate_ai4i
    monkeypatch.setattr(simulator, "simulate_ai4i", lambda *a, **k: calls.append(1) or real(*a, **k))
    spec = _spec(tmp_path, "{source: simulator, steps: 300}")
    with count_limit_set("steps", 500):
        with pytest.raises(BudgetError) as err:
            build_scene(spec)
    assert str(err.value).startswith(
        f"{spec}:5: assets[0].sensors.steps: the build's sensor data asks for 600 steps (2 assets with sensors x "
        "300 timeline steps), above the limit of 500 steps per scene build")
    assert calls == []  # refused before any stream was simulated
    with count_limit_set("steps", 600):
        assert build_scene(spec).n_frames == 300
