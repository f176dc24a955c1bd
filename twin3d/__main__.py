"""``python -m twin3d`` runs the ``twin3d`` command line."""

from .cli import main

main()
