"""Files twin3d generates and ships (trained models), package data: ``twin3d.assets`` (see :mod:`twin3d.resources`)."""
