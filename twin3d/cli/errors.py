"""Error handling of every ``twin3d`` command, in one place.

A command wrapped in :func:`handle_errors` turns twin3d errors and OS errors into one
line on stderr (``twin3d: error: ...``) and exit code 2 — no traceback, and (since all
outputs are written atomically) no partial output file. Ctrl-C exits with 130.

Every such command also takes the options in :data:`COMMON_OPTIONS` (listed under
"Safety" in its ``--help``), handled here so that no command repeats them:
``--allow-path DIR`` (repeatable) lets references inside input files reach ``DIR``
(:mod:`twin3d.confine`); ``--max-memory SIZE`` sets the memory budget
(:mod:`twin3d.budgets`).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import Twin3DError, Twin3DWarning

__all__ = ["fail", "handle_errors", "COMMON_OPTIONS"]


def _allow_paths(stack: ExitStack, folders: list[Path] | None) -> None:
    from ..confine import allow_paths

    if folders:
        stack.enter_context(allow_paths(*folders))


def _max_memory(stack: ExitStack, size: str | None) -> None:
    from ..budgets import memory_budget_set

    if size is not None:
        stack.enter_context(memory_budget_set(size))


#: Options every command takes: name -> (annotation, default, handler(stack, value)).
COMMON_OPTIONS = {
    "allow_path": (
        Annotated[Optional[list[Path]], typer.Option(
            "--allow-path", metavar="DIR", rich_help_panel="Safety",
            help="Also let references inside input files (glTF buffers, USD layers and textures, "
                 "OBJ .mtl, DICOM) read from DIR; repeatable. By default they must stay in the "
                 "referring file's folder.")],
        None, _allow_paths),
    "max_memory": (
        Annotated[Optional[str], typer.Option(
            "--max-memory", metavar="SIZE", rich_help_panel="Safety",
            help="Memory budget for this command (e.g. 32G); requests estimated above it are refused "
                 "at once. Default: TWIN3D_MAX_MEMORY, else half the machine's memory.")],
        None, _max_memory),
}


def fail(message: str, code: int = 2) -> None:
    """Print one clear error line on stderr and exit (a message with line breaks is joined with "; ")."""
    message = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.echo(f"twin3d: error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func):
    """Decorator for commands: Twin3DError/OSError/KeyError -> one line on stderr, exit 2.

    Twin3D warnings raised by the command (e.g. a USD file's unresolved references) are
    printed as one ``twin3d: warning: ...`` line each.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        common = {name: kwargs.pop(name, default) for name, (_, default, _h) in COMMON_OPTIONS.items()}
        try:
            with warnings.catch_warnings(), ExitStack() as stack:
                for name, (_, _d, handler) in COMMON_OPTIONS.items():
                    handler(stack, common[name])
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

    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    for name, (annotation, default, _h) in COMMON_OPTIONS.items():
        if name not in signature.parameters:
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=annotation))
            wrapper.__annotations__ = {**getattr(wrapper, "__annotations__", {}), name: annotation}
    wrapper.__signature__ = signature.replace(parameters=params)
    return wrapper
