"""The district's five key inspection items, each found compliant or not, per inspection."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services import inspections
from layers.services.actors import Actor
from layers.services.districts import SEEN_DISTRICT
from layers.services.errors import InvalidRequestError

# The five key items of the district's spot checks (区级抽查五项重点).
KEY_ITEMS: tuple[tuple[str, str], ...] = (
    ("builder_primary_duty", "建设单位安全生产首要责任"),
    ("fall_prevention_management", "高处坠落事故预防全员安全管理"),
    ("fall_protection_on_site", "施工现场防高坠措施"),
    ("hazardous_works_by_plan", "危大工程按方案施工及验收"),
    ("crane_safety_devices", "建筑起重机械安全保护装置"),
)
KEY_ITEM_ZH = dict(KEY_ITEMS)


def check_key_items(items: object) -> dict[str, bool]:
    """Return the five items as code -> compliant, or raise naming what is missing or wrong."""
    if not isinstance(items, dict):
        raise InvalidRequestError("字段 key_items：须为五项重点检查内容的结论")
    unknown = sorted(set(items) - set(KEY_ITEM_ZH))
    if unknown:
        raise InvalidRequestError(f"字段 key_items：未知检查项 {'、'.join(unknown)[:200]}")
    missing = [zh for code, zh in KEY_ITEMS if not isinstance(items.get(code), bool)]
    if missing:
        raise InvalidRequestError(f"字段 key_items：请为“{'”“'.join(missing)}”选择符合或不符合")
    return {code: bool(items[code]) for code, _ in KEY_ITEMS}


def record_with_key_items(session: Session, project_id: int, actor: Actor,
                          inspection: inspections.NewInspection, *, key_items: object) -> dict:
    """Store an inspection (``inspections.record_inspection``) and its five key items."""
    items = check_key_items(key_items)
    stored = inspections.record_inspection(session, project_id, actor, inspection)
    session.execute(
        text("INSERT INTO inspection_key_item (inspection_id, item, compliant) "
             "SELECT :i, unnest(CAST(:items AS text[])), unnest(CAST(:ok AS boolean[]))"),
        {"i": stored["id"], "items": list(items), "ok": list(items.values())},
    )
    return {**stored, "key_items": [{"item": c, "item_zh": KEY_ITEM_ZH[c], "compliant": ok}
                                    for c, ok in items.items()]}


def key_items_of(session: Session, inspection_ids: list[int]) -> dict[int, list[dict]]:
    """Return the key items of each inspection (in the district's order)."""
    rows = session.execute(text(
        "SELECT inspection_id, item, compliant FROM inspection_key_item "
        "WHERE inspection_id = ANY(:ids)"), {"ids": [int(i) for i in inspection_ids]}).all()
    order = {code: n for n, (code, _) in enumerate(KEY_ITEMS)}
    out: dict[int, list[dict]] = {}
    for inspection_id, item, compliant in sorted(rows, key=lambda r: (r[0], order.get(r[1], 99))):
        out.setdefault(inspection_id, []).append(
            {"item": item, "item_zh": KEY_ITEM_ZH.get(item, item), "compliant": compliant})
    return out


def todays_projects(session: Session, today: dt.date) -> dict:
    """Return the projects of the current spot-check stage not yet spot-checked in it."""
    plan = session.execute(text(
        "SELECT id, year, stage FROM spot_check_plan WHERE year = :y "
        f"AND district IS NOT DISTINCT FROM {SEEN_DISTRICT} ORDER BY stage DESC LIMIT 1"),
        {"y": today.year}).mappings().one_or_none()
    if plan is None:
        return {"plan": None, "projects": []}
    rows = session.execute(text(
        "SELECT p.id, p.registration_code, p.name, p.township, p.builder, p.status, k.reason, "
        "k.risk_score, EXISTS (SELECT 1 FROM inspection i WHERE i.project_id = p.id "
        "  AND i.kind = 'spot' AND i.round_or_stage = :stage) AS inspected, "
        "(SELECT count(*) FROM hazard h JOIN inspection i ON i.id = h.inspection_id "
        "  WHERE i.project_id = p.id AND h.rectification_state <> 'verified') AS open_hazards "
        "FROM spot_check_pick k JOIN construction_project p ON p.id = k.project_id "
        "WHERE k.plan_id = :plan AND p.deleted_at IS NULL "
        "ORDER BY inspected, k.risk_score DESC, p.registration_code"),
        {"plan": plan["id"], "stage": plan["stage"]}).mappings().all()
    return {"plan": dict(plan), "projects": [dict(r) for r in rows]}
