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
``cli.ablate``      ``ablate``
==================  =============================================================

Each module has ``register(app)``; errors are handled in one place
(:mod:`twin3d.cli.errors`). The modules import only typer at the top, so
``twin3d --help`` starts fast; library code is imported inside each command.
"""

from __future__ import annotations

import typer

from . import ablate, anatomy, export, render, risk, scene, segment, thermal

__all__ = ["app", "main", "COMMAND_GROUPS"]

app = typer.Typer(
    name="twin3d",
    help="AI-driven 3D digital twins: build, predict, render and export factory and anatomy scenes (USD + VTK).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: The command modules, in the order their commands are listed.
COMMAND_GROUPS = (scene, render, export, risk, thermal, anatomy, segment, ablate)

for _module in COMMAND_GROUPS:
    _module.register(app)


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def main() -> None:
    """Entry point of the ``twin3d`` console script and of ``python -m twin3d``.

    SIGTERM is handled like Ctrl-C: temporaries are removed, one line, exit code 130.
    Usage errors (an unknown option, ``--steps 1e10`` for an integer) are one line too,
    ``twin3d: error: ...`` with exit code 2, like every other error.
    """
    import signal
    import sys

    # typer vendors click: its exceptions' base class, found without naming a private module
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(prog_name="twin3d", standalone_mode=False)
    except click_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `twin3d` / `twin3d risk`: show the help
            exc.show()
            sys.exit(0)
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"twin3d: error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("twin3d: error: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
