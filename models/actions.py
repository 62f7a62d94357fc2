"""A store's own outreach actions: names, contact costs, coupons, owners and channels.

The actions are whatever the store's outreach log calls them (``wechat_coupon``,
``phone_call``, ...): the win-back model learns one arm per action it finds in the log, and the
policy, the CRM file and the reports use exactly those names. :func:`log_facts` reads each
action's contact cost (the median ``cost`` over its treatment rows), its most common
``channel`` and its number of contacts from the log; the train stage saves them with the model
(``UpliftModel.meta["action_facts"]``). :func:`resolve_actions` then turns the ``score:``
params into a :class:`models.segments.ScoreConfig` for the model's actions:

* **actions**: the ones the win-back model learned; ``score.policy.allowed_actions: null``
  allows all of them, cheapest first (ties of expected value go to the cheaper action).
* **contact cost**: ``score.economics.action_costs[a]`` where given, else the log's median.
* **coupons**: ``score.economics.coupon_actions``; ``null`` = the actions whose name contains
  ``coupon`` (or 券).
* **owner and channel** (``score.actions.<a>``): used in the CRM file for an action the
  strategy matrix places in no cell; defaults ``service_advisor`` and the log's most common
  channel of the action (``unknown`` without a ``channel`` column).
* **strategy matrix**: cell actions the model never learned are skipped (the playbook
  comparator works only the actions it can price) and reported; a model action that no cell
  names may be chosen by the model policy in every eligible stage.

Params that name an action the model never learned (``allowed_actions``, ``action_costs``,
``coupon_actions``, ``score.actions``, ``policy.coupon_action``) are an :class:`ActionError`
listing both sides. Everything is explained in docs/policy.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import NO_ACTION
from models.segments import ActionRole, ScoreConfig

logger = logging.getLogger(__name__)

#: Owner and channel of an action neither ``score.actions`` nor the log describes.
DEFAULT_OWNER = "service_advisor"
UNKNOWN_CHANNEL = "unknown"
#: With ``coupon_actions: null``, an action whose name contains one of these is a coupon.
COUPON_MARKERS = ("coupon", "券")


class ActionError(ValueError):
    """The params and the win-back model's actions do not fit together."""


def log_facts(log: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Contact cost, channel and contacts of each action in an outreach log.

    Args:
        log: Outreach rows (the contract's ``outreach`` table or the featurize stage's
            recovery table): ``action``, and where present ``group``, ``cost``, ``channel``.

    Returns:
        ``{action: {"cost": median cost or None, "channel": most common channel or None,
        "contacts": rows}}`` over the treatment rows (``group == "treatment"`` where the
        column exists; never the control action ``none``), actions sorted by name. JSON-able.
    """
    if log is None or "action" not in log.columns or log.empty:
        return {}
    rows = log.loc[log["action"].notna()]
    rows = rows.loc[rows["action"].astype("str") != NO_ACTION]
    if "group" in rows.columns:
        rows = rows.loc[rows["group"].astype("str") == "treatment"]
    out: dict[str, dict[str, Any]] = {}
    for action, part in rows.groupby(rows["action"].astype("str"), sort=True):
        cost = None
        if "cost" in part.columns:
            c = pd.to_numeric(part["cost"], errors="coerce").dropna()
            cost = float(np.median(c.to_numpy(dtype="float64"))) if len(c) else None
        channel = None
        if "channel" in part.columns:
            ch = part["channel"].dropna().astype("str")
            ch = ch.loc[ch != ""]
            if len(ch):
                counts = ch.value_counts()
                # most common; ties by name, so the answer does not depend on row order
                top = counts[counts == counts.max()].index
                channel = str(sorted(top)[0])
        out[str(action)] = {"cost": cost, "channel": channel, "contacts": int(len(part))}
    return out


def is_coupon(action: str, coupon_actions: Sequence[str] | None) -> bool:
    """Whether ``action`` carries the coupon (``coupon_actions`` None: by its name)."""
    if coupon_actions is not None:
        return action in coupon_actions
    name = action.lower()
    return any(m in name for m in COUPON_MARKERS)


def coupons_among(actions: Sequence[str], coupon_actions: Sequence[str] | None) -> tuple[str, ...]:
    """The coupon actions among ``actions`` (in their order)."""
    return tuple(a for a in actions if is_coupon(a, coupon_actions))


def _sides(what: str, named: Sequence[str], actions: Sequence[str]) -> str:
    return (
        f"{what} names action(s) the win-back model never learned: {sorted(named)}; the "
        f"model's actions (from the store's outreach log): {sorted(actions)}"
    )


def resolve_actions(
    config: ScoreConfig,
    actions: Sequence[str],
    facts: Mapping[str, Mapping[str, Any]] | None = None,
    fallback_facts: Mapping[str, Mapping[str, Any]] | None = None,
) -> ScoreConfig:
    """The ``score`` settings for the win-back model's actions (see the module doc).

    Resolving an already resolved config for the same actions gives the same config.

    Args:
        config: The ``score:`` params (:meth:`ScoreConfig.from_params`).
        actions: The actions the win-back model learned (``UpliftModel.actions``).
        facts: :func:`log_facts` of the training log (``UpliftModel.action_facts``).
        fallback_facts: Facts for actions ``facts`` lacks (e.g. the scored data's own
            outreach log, for a model saved before the facts were recorded).

    Returns:
        A config whose ``economics.action_costs`` has a cost for every action,
        ``coupon_actions`` and ``policy.allowed_actions`` list actions of the model, the matrix
        cells name only the model's actions, ``roles`` has every action's owner and channel,
        and ``notes`` says what was skipped or left unplaced.

    Raises:
        ActionError: The model has no actions, params name actions the model never learned,
            or an action has no cost in the params or the log.
    """
    actions = [str(a) for a in actions if str(a) != NO_ACTION]
    if not actions:
        raise ActionError("the win-back model has no actions (its outreach log had no treatment)")
    known = set(actions)
    facts = {**dict(fallback_facts or {}), **dict(facts or {})}
    eco, pol = config.economics, config.policy
    for what, named in (
        ("score.economics.action_costs", list(eco.action_costs)),
        ("score.economics.coupon_actions", list(eco.coupon_actions or ())),
        ("score.actions", list(config.roles)),
        ("score.policy.allowed_actions", list(pol.allowed_actions or ())),
    ):
        bad = sorted(set(named) - known)
        if bad:
            raise ActionError(_sides(what, bad, actions))
    costs: dict[str, float] = {}
    missing = []
    for a in actions:
        given = eco.action_costs.get(a, (facts.get(a) or {}).get("cost"))
        if given is None or not np.isfinite(float(given)):
            missing.append(a)
        else:
            costs[a] = float(given)
    if missing:
        raise ActionError(
            f"no contact cost for action(s) {missing}: the outreach log the model was trained "
            "on gives none (no cost column, or a model saved before costs were recorded: "
            "retrain it) and score.economics.action_costs names none; set "
            f"score.economics.action_costs for {missing}"
        )
    cheapest_first = sorted(actions, key=lambda a: (costs[a], a))
    allowed = tuple(cheapest_first if pol.allowed_actions is None else pol.allowed_actions)
    roles = {}
    for a in actions:
        role = config.roles.get(a, ActionRole())
        channel = role.channel or (facts.get(a) or {}).get("channel") or UNKNOWN_CHANNEL
        roles[a] = ActionRole(role.owner or DEFAULT_OWNER, str(channel))
    notes = list(config.notes)
    skipped: set[str] = set()
    cells = {}
    for tier, row in config.cells.items():
        cells[tier] = {}
        for stage, cell in row.items():
            keep = tuple(a for a in cell.actions if a in known)
            skipped |= set(cell.actions) - known
            cells[tier][stage] = dataclasses.replace(cell, actions=keep)
    if skipped:
        notes.append(
            _sides("score.matrix.cells", sorted(skipped), actions)
            + "; skipped them (the playbook matrix comparator works only the actions it can "
            "price; a cell left without actions is a no-action cell)"
        )
    placed = {a for row in cells.values() for cell in row.values() for a in cell.actions}
    unplaced = [a for a in actions if a not in placed]
    if unplaced:
        notes.append(
            f"action(s) {unplaced} of the win-back model are in no strategy-matrix cell: the "
            "model policy may choose them in every eligible stage (score.policy), and the CRM "
            "file gives their own owner and channel (score.actions)"
        )
    # resolving again gives the same notes: keep each once, log only the new ones
    notes = list(dict.fromkeys(notes))
    for note in notes[len(config.notes) :]:
        logger.warning(note)
    return dataclasses.replace(
        config,
        economics=dataclasses.replace(
            eco,
            action_costs={a: costs[a] for a in cheapest_first},
            coupon_actions=coupons_among(cheapest_first, eco.coupon_actions),
        ),
        policy=dataclasses.replace(pol, allowed_actions=allowed),
        cells=cells,
        roles=roles,
        notes=tuple(notes),
    )


def resolve_for_model(
    config: ScoreConfig, model: Any, fallback_log: pd.DataFrame | None = None
) -> ScoreConfig:
    """:func:`resolve_actions` for an :class:`models.recovery.UpliftModel` (None: unchanged).

    Args:
        config: The ``score:`` params.
        model: The win-back model, or None (no policy: nothing to resolve).
        fallback_log: An outreach log whose facts fill in what the model did not record.
    """
    if model is None:
        return config
    fallback = log_facts(fallback_log) if fallback_log is not None else None
    return resolve_actions(config, model.actions, model.action_facts, fallback)


def default_coupon_action(config: ScoreConfig, action: str | None = None) -> str:
    """The same-coupon comparator's action (``policy.coupon_action``) of a resolved config.

    Args:
        config: A config from :func:`resolve_actions`.
        action: The params' choice; None = the coupon action if exactly one, else the
            cheapest action (ties by name).

    Raises:
        ActionError: ``action`` is not one of the model's actions.
    """
    costs = config.economics.action_costs
    if action is not None:
        if action not in costs:
            raise ActionError(_sides("policy.coupon_action", [action], list(costs)))
        return action
    coupons = [a for a in costs if a in config.economics.coupon_actions]
    if len(coupons) == 1:
        return coupons[0]
    return min(costs, key=lambda a: (costs[a], a))


def cell_roles(config: ScoreConfig) -> dict[str, ActionRole]:
    """Owner and channel of each action a matrix cell names: its highest-priority cell's."""
    best: dict[str, tuple[int, ActionRole]] = {}
    for row in config.cells.values():
        for cell in row.values():
            for a in cell.actions:
                if a not in best or cell.priority < best[a][0]:
                    best[a] = (cell.priority, ActionRole(cell.owner, cell.channel))
    return {a: role for a, (_, role) in best.items()}


def row_roles(
    cell_owner: pd.Series,
    cell_channel: pd.Series,
    action: pd.Series,
    config: ScoreConfig,
    cell_actions: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Owner and channel per CRM row: the matrix cell's, or the action's own.

    A row whose recommended action appears in no strategy-matrix cell of ``config`` gets the
    action's :class:`ActionRole`. With ``cell_actions`` (the segments' ``matrix_actions``,
    ``"a+b"``), a row whose action some other cell names but its own cell does not gets that
    other cell's owner and channel (:func:`cell_roles`), so the channel fits the action (a
    manager call is not a home visit); every other row keeps its cell's owner and channel.

    Returns:
        ``(owner, channel)``, index as ``cell_owner``.
    """
    placed = cell_roles(config)
    own = {a: r for a, r in config.roles.items() if a not in placed}
    act = action.astype("object")
    owner = cell_owner.astype("object").copy()
    channel = cell_channel.astype("object").copy()
    if cell_actions is not None:
        names = cell_actions.astype("object").fillna("").astype("str").str.split("+")
        outside = np.array(
            [a in placed and a not in cell for a, cell in zip(act, names, strict=True)], dtype=bool
        )
        own_cell = {**own, **placed}
    else:
        outside = np.zeros(len(act), dtype=bool)
        own_cell = own
    hit = act.isin(list(own)).to_numpy() | outside
    if not hit.any():
        return cell_owner, cell_channel
    owner[hit] = act[hit].map({a: r.owner for a, r in own_cell.items()})
    channel[hit] = act[hit].map({a: r.channel for a, r in own_cell.items()})
    return owner.astype(cell_owner.dtype), channel.astype(cell_channel.dtype)
