import subprocess
import sys


def test_public_api_resolves():
    import twin3d

    for name in twin3d.__all__:
        assert getattr(twin3d, name) is not None, name


def test_import_has_no_heavy_side_effects():
    """`import twin3d` loads neither torch, TensorFlow, pxr nor VTK's plotting side."""
    code = (
        "import sys, twin3d; "
        "heavy = [m for m in ('torch', 'tensorflow', 'pxr', 'vtkmodules.vtkRenderingCore', 'monai') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
