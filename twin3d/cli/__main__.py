"""``python -m twin3d.cli`` (same as ``python -m twin3d``)."""

from . import main

main()
