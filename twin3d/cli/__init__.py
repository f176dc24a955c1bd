"""The ``twin3d`` command line (typer): one module per command group over library functions.

==================  =============================================================
module              commands
==================  =============================================================
``cli.scene``       ``build``, ``info``, ``demo``
``cli.render``      ``render``, ``view``, ``render-job``
``cli.export``      ``export``
``cli.risk``        ``risk train | predict | simulate``
``cli.thermal``     ``thermal train | eval``
``cli.anatomy``     ``surfaces``
``cli.segment``     ``segment [run] | train | evaluate``
==================  =============================================================

Each module has ``register(app)``; errors are handled in one place
(:mod:`twin3d.cli.errors`). The modules import only typer at the top, so
``twin3d --help`` starts fast; library code is imported inside each command.
"""

from __future__ import annotations

import typer

from . import anatomy, export, render, risk, scene, segment, thermal

__all__ = ["app", "main", "COMMAND_GROUPS"]

app = typer.Typer(
    name="twin3d",
    help="AI-driven 3D digital twins: build, predict, render and export factory and anatomy scenes (USD + VTK).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: The command modules, in the order their commands are listed.
COMMAND_GROUPS = (scene, render, export, risk, thermal, anatomy, segment)

for _module in COMMAND_GROUPS:
    _module.register(app)


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def main() -> None:
    """Entry point of the ``twin3d`` console script and of ``python -m twin3d``.

    SIGTERM is handled like Ctrl-C: temporaries are removed, one line, exit code 130.
    """
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="twin3d")
