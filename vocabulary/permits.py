"""The protection procedures (燃气管道保护手续) of a conflict: states, labels, severity order.

Words: the states are named from the application's point of view, as the office decides
it: 未办理 (nothing filed), 已申请 (filed, awaiting the decision), 已批准 (approved, valid
until a date), 未通过 (the application was refused), 已过期 (the approval ran out),
无需办理 (the office decided none is needed). The reports used 办理中 / 已办理 / 被驳回;
已办理 ("handled") does not say whether the outcome was an approval or a refusal, and an
approval here carries an expiry date that "handled" hides, so the decision words win.
"""

from __future__ import annotations

from collections.abc import Iterable

from vocabulary.labelled import LabelledEnum


class PermitState(LabelledEnum):
    """State of the protection procedures of one conflict (project x pipeline)."""

    NOT_STARTED = "not_started", "未办理"
    APPLIED = "applied", "已申请"
    APPROVED = "approved", "已批准"
    REJECTED = "rejected", "未通过"
    EXPIRED = "expired", "已过期"
    NOT_REQUIRED = "not_required", "无需办理"


# The one permit severity order, worst first: a project with several conflicts shows its
# least advanced procedure. An approval ranks before "not required" because it runs out
# and has to be watched; "not required" needs nothing more.
PERMIT_SEVERITY: tuple[PermitState, ...] = (
    PermitState.NOT_STARTED,
    PermitState.REJECTED,
    PermitState.EXPIRED,
    PermitState.APPLIED,
    PermitState.APPROVED,
    PermitState.NOT_REQUIRED,
)

# States in which nothing more is owed (the campaign's "procedures completed").
PERMIT_SETTLED: frozenset[PermitState] = frozenset({PermitState.APPROVED, PermitState.NOT_REQUIRED})

# A project's state on the permits map and in the report: the worst permit state of its
# open conflicts, or no conflict at all.
NO_CONFLICT = "no_conflict"
NO_CONFLICT_LABEL = "无冲突"


def permit_rank(state: PermitState | str | None) -> int:
    """Return the position of ``state`` in ``PERMIT_SEVERITY``; a conflict with no permit is not started."""
    return PERMIT_SEVERITY.index(PermitState(state or PermitState.NOT_STARTED))


def worst_permit_state(states: Iterable[PermitState | str | None]) -> PermitState | None:
    """Return the worst of ``states`` (None = no permit row = not started), or None when empty."""
    ranks = [permit_rank(s) for s in states]
    return PERMIT_SEVERITY[min(ranks)] if ranks else None


def project_permit_label(state: PermitState | str | None) -> str:
    """Return the label of a project's permit state: 无冲突, or 有冲突（<permit state>）."""
    if state is None or state == NO_CONFLICT:
        return NO_CONFLICT_LABEL
    return f"有冲突（{PermitState(state).label}）"


def project_permit_labels() -> dict[str, str]:
    """Return ``{state: label}`` of the project states, worst first, no conflict last."""
    return {**{s.value: project_permit_label(s) for s in PERMIT_SEVERITY}, NO_CONFLICT: NO_CONFLICT_LABEL}
