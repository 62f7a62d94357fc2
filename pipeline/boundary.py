"""The one place where a failure meets the user: ``error: ...`` and exit status 1.

Every ``winback`` command runs inside :class:`BoundaryGroup`. An expected failure — bad input
data (:class:`features.contract.ContractError`), a bad params file or option value
(``ValueError``, a YAML error), a file that cannot be read or written (``OSError``: missing,
permission, disk full), a missing or damaged model (``ModelStoreError``, ``ModelFileError``)
or an unusable MLflow tracking store (``MlflowException``, SQLAlchemy errors) — prints one
``error: ...`` message on stderr and exits with status 1. The traceback is shown only with
``winback --verbose ...``, a command's own ``--verbose`` (debug logging) or
``WINBACK_VERBOSE=1``. Typer's usage errors (exit status 2) are untouched: they are click
exceptions, handled by click before this boundary sees them.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable

import click
import typer
import yaml
from typer.core import TyperGroup

from models.artifacts import ModelStoreError

logger = logging.getLogger(__name__)

#: ``WINBACK_VERBOSE=1`` shows tracebacks as ``winback --verbose`` does.
VERBOSE_ENV = "WINBACK_VERBOSE"
_MAX_MESSAGE = 2000
#: Set on every run by the ``winback`` callback from its ``--verbose`` flag.
verbose_flag = False


def _expected() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [ValueError, OSError, yaml.YAMLError, ModelStoreError]
    # An MLflow or database error can only come from a library already loaded: looking at
    # sys.modules keeps a `--help` (whose exit passes through here) from loading MLflow.
    if "mlflow" in sys.modules:
        from mlflow.exceptions import MlflowException

        kinds.append(MlflowException)
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import SQLAlchemyError

        kinds.append(SQLAlchemyError)
    return tuple(kinds)


def message(exc: BaseException) -> str:
    """The one-line (or, for a contract violation, one-block) text shown for ``exc``."""
    from features.contract import ContractError

    if isinstance(exc, ContractError):
        return str(exc)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError):
        if exc.strerror:
            text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    elif isinstance(exc, yaml.YAMLError):
        text = "params file is not valid YAML: " + " ".join(text.split())
    elif not isinstance(exc, ValueError | ModelStoreError):
        # MLflow and database driver errors: the first line says it, the rest is SQL.
        text = f"the MLflow tracking store failed: {text.splitlines()[0]}"
    text = text if text.startswith("error: ") else f"error: {text}"
    return text[:_MAX_MESSAGE]


#: How click and typer end a command on purpose (help, usage errors, exit codes): not failures.
#: (typer vendors its own click, so both packages' classes are listed.)
_CONTROL = (
    click.exceptions.Exit,
    click.ClickException,
    click.Abort,
    typer.Exit,
    typer.Abort,
    typer.exceptions.TyperException,
)


def unexpected(exc: BaseException) -> str:
    """The one line a failure the code did not foresee (a bug) prints without ``--verbose``."""
    first = (str(exc).splitlines() or [""])[0][:_MAX_MESSAGE]
    return (
        f"error: internal error ({type(exc).__name__}: {first}); rerun with --verbose "
        f"(or {VERBOSE_ENV}=1) for the traceback, and please report it"
    )


def verbose_wanted() -> bool:
    """Whether a failure should also print its traceback."""
    env = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    return verbose_flag or env or logging.getLogger().isEnabledFor(logging.DEBUG)


class BoundaryGroup(TyperGroup):
    """A typer group that turns expected failures into ``error: ...`` and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _CONTROL:
            raise
        except _expected() as exc:
            if verbose_wanted():
                traceback.print_exc()
            typer.echo(message(exc), err=True)
            raise typer.Exit(code=1) from exc
        except Exception as exc:
            if verbose_wanted():
                raise
            typer.echo(unexpected(exc), err=True)
            raise typer.Exit(code=1) from exc


def run(main: Callable[..., object]) -> None:
    """``typer.run(main)`` inside the boundary: ``python -m pipeline.<stage>`` (DVC) fails alike.

    Args:
        main: The stage's command function.
    """
    try:
        typer.run(main)
    except _CONTROL:
        raise
    except _expected() as exc:
        if verbose_wanted():
            traceback.print_exc()
        typer.echo(message(exc), err=True)
        sys.exit(1)
    except Exception as exc:
        if verbose_wanted():
            raise
        typer.echo(unexpected(exc), err=True)
        sys.exit(1)
