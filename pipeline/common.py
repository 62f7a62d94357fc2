"""Helpers shared by the stage entry points: logging, params.yaml blocks and date options.

Every date a command takes (``--as-of``, ``--through``, ``--until``, and the same dates given
in params.yaml) is read by :func:`parse_date`: ``YYYY-MM-DD`` and nothing else, so
``01-07-2025`` can never be read as the first of July in one place and the seventh of January
in another. :func:`date_option` turns a refusal into ``error: ...`` and exit status 1, the
status every command uses for bad input.
"""

from __future__ import annotations

import copy
import datetime as dt
import errno
import functools
import logging
import math
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

if TYPE_CHECKING:
    import pandas as pd

    from features.mapping import ReadSettings

DEFAULT_PARAMS = Path("params.yaml")
#: The defaults every command starts from: the repository's params.yaml, shipped in the
#: package (pipeline/params.yaml is a link to it).
PACKAGED_PARAMS = Path(__file__).resolve().with_name("params.yaml")
#: Mappings keyed by the store's own names: a params file replaces them whole.
WHOLE_KEYS = frozenset({"cells", "routes", "trigger_reasons", "interval_km_by_model"})
DATE_FORMAT = "YYYY-MM-DD"
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

logger = logging.getLogger(__name__)


class DateOptionError(ValueError):
    """A date option is not a ``YYYY-MM-DD`` calendar date."""


def parse_date(value: object, option: str) -> pd.Timestamp:
    """Read a date given on the command line or in params.yaml: ``YYYY-MM-DD`` only.

    Args:
        value: The text given (a ``datetime.date`` from a YAML file is accepted as well).
        option: The option's name for the message, e.g. ``--as-of`` or ``validate.as_of``.

    Returns:
        The date as a midnight timestamp.

    Raises:
        DateOptionError: ``value`` is not exactly ``YYYY-MM-DD`` (``01-07-2025``,
            ``2025/07/01``, ``2025-7-1``, an empty text, a time or time zone) or not a day of
            the calendar (``2025-02-30``).
    """
    # pandas loads on the first date read, not when a command's --help is shown
    import pandas as pd

    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return pd.Timestamp(value)
    text = value if isinstance(value, str) else None
    if text is not None and _DATE_RE.fullmatch(text):
        try:
            return pd.Timestamp(dt.date.fromisoformat(text))
        except ValueError:
            pass
    raise DateOptionError(
        f"{option} must be a date written {DATE_FORMAT} (e.g. 2025-07-01), got {value!r}"
    )


def date_option(value: object | None, option: str) -> pd.Timestamp | None:
    """:func:`parse_date` for a command: None passes; a bad date exits with status 1.

    Args:
        value: The option's value, or None when it was not given.
        option: The option's name for the message.

    Returns:
        The date, or None.

    Raises:
        typer.Exit: With code 1 after ``error: <option> must be a date written YYYY-MM-DD``
            on stderr.
    """
    if value is None:
        return None
    try:
        return parse_date(value, option)
    except DateOptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


def writable_output(path: Path | None, option: str = "--out") -> None:
    """Check, before any work, that ``path`` can be written: a bad ``--out`` fails at once.

    Creates the file's directory if missing and writes and removes a probe file in it.

    Args:
        path: The output file (None: not asked for, nothing to check).
        option: The option's name for the message.

    Raises:
        typer.Exit: With code 1 after ``error: cannot write <path> (<option>): <reason>``.
    """
    if path is None:
        return
    target = Path(path)
    blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a directory")
        if blocking is not None:
            raise NotADirectoryError(errno.ENOTDIR, f"{blocking} is a file, not a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        typer.echo(f"error: cannot write {target} ({option}): {reason}", err=True)
        raise typer.Exit(code=1) from exc


def invalid_share(value: object, key: str = "validate.max_invalid_share") -> float:
    """``validate.max_invalid_share``: a number from 0 to 1.

    Raises:
        ValueError: Anything else (``abc``, ``2``, ``.nan``), naming the key.
    """
    try:
        share = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        share = math.nan
    if isinstance(value, bool) or not 0 <= share <= 1:
        raise ValueError(f"{key} must be a number from 0 to 1, got {value!r}")
    return share


def max_invalid_share(params: str | Path | None = None) -> float:
    """The ``validate.max_invalid_share`` of a params file (or the packaged default), checked."""
    return invalid_share(load_params("validate", params)["max_invalid_share"])


def budget_amount(value: str) -> float:
    """A ``--budget`` in CNY: a finite number >= 0 (``nan``, ``inf``, ``1e400`` are refused).

    Raises:
        ValueError: ``value`` is not such a number.
    """
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"--budget must be a finite number >= 0, got {value!r}")
    return amount


def setup_logging(verbose: bool = False) -> None:
    """Configure root logging once for a command-line run."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )


def resolve_params(path: str | Path | None = None) -> Path | None:
    """The params file a command reads on top of the packaged defaults.

    Args:
        path: The file given with ``--params``; None means ``params.yaml`` in the working
            directory if there is one.

    Returns:
        The file, or None when there is none (the packaged defaults apply alone).

    Raises:
        FileNotFoundError: An explicitly given params file does not exist.
    """
    if path is None:
        return DEFAULT_PARAMS if DEFAULT_PARAMS.is_file() else None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file not found: {path}")
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of stage blocks at top level")
    return params


def merge_params(defaults: Any, override: Any, key: str = "") -> Any:
    """``override`` on top of ``defaults``: mappings key by key, anything else replaced.

    A mapping keyed by the store's own names (:data:`WHOLE_KEYS`: strategy-matrix cells, lead
    routes, trigger reasons, the care maintenance interval per vehicle model) is replaced whole, so a store's matrix never inherits the default
    matrix's tiers.

    Args:
        defaults: The packaged value.
        override: The params file's value.
        key: The dotted key of these values (for :data:`WHOLE_KEYS`).

    Returns:
        The merged value (new containers; neither input is changed).
    """
    if (
        isinstance(defaults, dict)
        and isinstance(override, dict)
        and key.rpartition(".")[2] not in WHOLE_KEYS
    ):
        merged = dict(defaults)
        for k, v in override.items():
            merged[k] = merge_params(defaults.get(k), v, f"{key}.{k}" if key else str(k))
        return merged
    return override


_announced: set[str] = set()


def _announce(path: Path | None) -> None:
    """Say once per command which params file it read (the log line people look for)."""
    text = (
        f"params: {path.resolve()} over the packaged defaults"
        if path is not None
        else f"params: the packaged defaults ({PACKAGED_PARAMS}); no params.yaml in {Path.cwd()}"
    )
    if text not in _announced:
        _announced.add(text)
        logger.info(text)


@functools.cache
def _packaged() -> dict[str, Any]:
    # read once per process: a command asks for several blocks
    if not PACKAGED_PARAMS.is_file():  # pragma: no cover - a broken install
        raise FileNotFoundError(f"the packaged defaults are missing: {PACKAGED_PARAMS}")
    return _read_yaml(PACKAGED_PARAMS)


def packaged_params() -> dict[str, Any]:
    """The defaults shipped with the package: the repository's own params.yaml (a copy)."""
    return copy.deepcopy(_packaged())


def load_params(block: str, path: str | Path | None = None) -> dict[str, Any]:
    """Return one stage's block of params: the params file over the packaged defaults.

    The packaged defaults are the repository's params.yaml (``pipeline/params.yaml`` is that
    file), so a command run without a params file, or with one that sets only a few keys,
    uses exactly the settings the repository's pipeline runs with.

    Args:
        block: The stage name, which is also its params block name.
        path: The params file. None means ``params.yaml`` in the working directory if it
            exists, else the packaged defaults alone.

    Returns:
        The merged block as a dict (see :func:`merge_params`).

    Raises:
        FileNotFoundError: An explicitly given params file does not exist.
        ValueError: The file is not a mapping.
    """
    found = resolve_params(path)
    _announce(found)
    defaults = packaged_params().get(block) or {}
    if found is None:
        return dict(defaults)
    override = _read_yaml(found).get(block)
    if override is None:
        return dict(defaults)
    if not isinstance(override, dict):
        raise ValueError(f"{found}: the {block}: block must be a mapping, got {override!r}")
    return merge_params(defaults, override, block)


def read_settings(path: str | Path | None = None) -> ReadSettings:
    """How to read data directories: the ``validate:`` block's encoding and mappings.

    Args:
        path: The params file, as for :func:`load_params`.

    Returns:
        The settings every stage passes to :func:`features.reading.read_data_dir`.
    """
    from features.mapping import ReadSettings

    return ReadSettings.from_params(load_params("validate", path))


def scoring_now(
    data: Any, today: pd.Timestamp | None = None
) -> tuple[pd.Timestamp, pd.Timestamp | None, dict[str, int]]:
    """The default as-of date of a score: the day after the last valid event, at most tomorrow.

    ``data`` must have been read with the as-of cut at ``today``
    (:func:`features.reading.read_data_dir` ``as_of=today``), so events dated in the future
    are already set aside as "after as-of date" rejects (counted, never silently dropped) and
    cannot move "now".

    Args:
        data: The validated :class:`features.contract.DataSet`.
        today: Today's date (default: the calendar date now).

    Returns:
        ``(as_of, last_event, set_aside)``: the as-of date, the latest valid event date over
        every after-sales event table (None if there is none; the as-of date is then
        tomorrow), and the number of rows set aside for being dated after ``today`` per table.
    """
    import pandas as pd

    from features.contract import ACTION_SET_ASIDE, RULE_AFTER_AS_OF, TABLES

    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today).normalize()
    last = None
    for name, spec in TABLES.items():
        frame = data.table(name)
        if spec.date_column is None or frame is None or frame.empty:
            continue
        latest = frame[spec.date_column].max()
        if pd.notna(latest) and (last is None or latest > last):
            last = pd.Timestamp(latest).normalize()
    rejects = data.rejects
    late = rejects.loc[
        (rejects["rule"] == RULE_AFTER_AS_OF) & (rejects["action"] == ACTION_SET_ASIDE)
    ].drop_duplicates(["table", "row_number"])
    set_aside = {str(k): int(v) for k, v in late["table"].value_counts().sort_index().items()}
    if set_aside:
        logger.warning(
            "%d event row(s) dated after today (%s) set aside: %s",
            sum(set_aside.values()),
            f"{today:%Y-%m-%d}",
            set_aside,
        )
    tomorrow = today + pd.Timedelta(days=1)
    as_of = tomorrow if last is None else min(last + pd.Timedelta(days=1), tomorrow)
    return as_of, last, set_aside


def now_text(
    as_of: pd.Timestamp, last: pd.Timestamp | None, set_aside: dict[str, int], today: pd.Timestamp
) -> str:
    """What :func:`scoring_now` chose, for the command's output (with the future rows)."""
    if last is None:
        text = f"scoring as of {as_of:%Y-%m-%d} (no valid event on record: tomorrow)"
    else:
        text = f"scoring as of {as_of:%Y-%m-%d} (the day after the last event, {last:%Y-%m-%d})"
    if set_aside:
        n = sum(set_aside.values())
        where = ", ".join(f"{k} {v}" for k, v in set_aside.items())
        text += (
            f"\nwarning: {n} event row(s) dated after today ({today:%Y-%m-%d}) set aside as "
            f"'after as-of date' ({where}); they do not count as the last event"
        )
    return text
