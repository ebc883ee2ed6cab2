"""The JSON of ``/api/campaign/status``: English keys, per township and in total."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from campaign.compliance import DutyStatus, ProjectCompliance
from campaign.statistics import NO_TOWNSHIP
from layers.services.campaign_status import CampaignStatus


def duty_key(index: int, name_count: int) -> str:
    """Return the English key of the index-th duty (self rounds, third party, spot check)."""
    if index < name_count - 2:
        return f"self_inspection_round_{index + 1}"
    return "third_party" if index == name_count - 2 else "spot_check"


def status_summary(status: CampaignStatus) -> dict[str, Any]:
    """Return the per-township summary with English keys (for the API)."""
    groups: dict[str, list[ProjectCompliance]] = defaultdict(list)
    for row in status.rows:
        groups[row.township or NO_TOWNSHIP].append(row)
    townships = [_township_summary(name, groups[name]) for name in sorted(groups)]
    return {
        "date": status.on.isoformat(),
        "year": status.settings.year,
        "projects": len(status.rows),
        "skipped_projects": list(status.portfolio.skipped),
        "townships": townships,
        "total": _township_summary(None, list(status.rows)),
        "stages": [
            {
                "stage": p.stage.number,
                "window_start": p.stage.window_start.isoformat(),
                "window_end": p.stage.window_end.isoformat(),
                "candidates": p.candidates,
                "quota_needed": p.quota_needed,
                "checked": p.checked,
                "status": p.status.name.lower(),
                "status_zh": p.status.value,
            }
            for p in status.stages
        ],
    }


def _township_summary(name: str | None, rows: Sequence[ProjectCompliance]) -> dict[str, Any]:
    duties: dict[str, dict[str, Any]] = {}
    count = len(rows[0].duties) if rows else 0
    for index in range(count):
        statuses = [r.duties[index].status for r in rows]
        required = sum(s is not DutyStatus.NOT_REQUIRED for s in statuses)
        duties[duty_key(index, count)] = {
            "name_zh": rows[0].duties[index].name,
            "due": rows[0].duties[index].due.isoformat(),
            "required": required,
            "done": sum(s in (DutyStatus.DONE, DutyStatus.DONE_LATE) for s in statuses),
            "done_late": sum(s is DutyStatus.DONE_LATE for s in statuses),
            "overdue": sum(s is DutyStatus.OVERDUE for s in statuses),
        }
    return {
        "township": name,
        "projects": len(rows),
        "under_construction": sum(r.under_construction for r in rows),
        "duties": duties,
        "supervision_missing": sum(r.supervision_missing for r in rows),
        "unpermitted_conflicts": sum(r.unpermitted_conflict for r in rows),
        "open_hazards": sum(r.open_hazards for r in rows),
        "overdue_hazards": sum(r.overdue_hazards for r in rows),
        "overdue_major_hazards": sum(r.overdue_major_hazards for r in rows),
        "projects_with_issues": sum(bool(r.issues) for r in rows),
    }
