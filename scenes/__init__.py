"""The demo scene specs, shipped as package data: ``twin3d.scenes`` (read with :mod:`twin3d.resources`)."""
