"""Error handling of every ``twin3d`` command, in one place.

A command wrapped in :func:`handle_errors` turns twin3d errors and OS errors into one
line on stderr (``twin3d: error: ...``) and exit code 2 — no traceback, and (since all
outputs are written atomically) no partial output file. Ctrl-C exits with 130.
"""

from __future__ import annotations

import functools
import warnings

import typer

from ..errors import Twin3DError, Twin3DWarning

__all__ = ["fail", "handle_errors"]


def fail(message: str, code: int = 2) -> None:
    """Print one clear error line on stderr and exit."""
    typer.echo(f"twin3d: error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func):
    """Decorator for commands: Twin3DError/OSError/KeyError -> one line on stderr, exit 2.

    Twin3D warnings raised by the command (e.g. a USD file's unresolved references) are
    printed as one ``twin3d: warning: ...`` line each.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                previous = warnings.showwarning

                def show(message, category, filename, lineno, file=None, line=None):
                    if issubclass(category, Twin3DWarning):
                        typer.echo(f"twin3d: warning: {message}", err=True)
                    else:
                        previous(message, category, filename, lineno, file, line)

                warnings.showwarning = show
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Twin3DError as exc:
            fail(str(exc))
        except (OSError, KeyError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            fail(str(text))
        except KeyboardInterrupt:
            fail("interrupted", code=130)

    return wrapper
