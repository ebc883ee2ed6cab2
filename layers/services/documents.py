"""Documents of the procedure (owner replies, protection plans, visit and damage photos).

Checked exactly like inspection evidence (``layers.campaign_store``): PDF, JPEG or PNG
recognised by their first bytes, at most 20 MB, a sanitised name, a SHA-256. Who may
read one follows the record it belongs to (``scope_of_conflict``): the gas office and
inspectors every document, a builder those of its own projects, a pipeline owner those
of conflicts on its own pipelines (and damage reports on them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services import audit
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.evidence import (
    EVIDENCE_MAGIC,
    MAX_EVIDENCE_BYTES,
    EvidenceTooLargeError,
    detect_content_type,
    sanitise_filename,
    too_large_message,
)
from layers.services.permissions import authorize, scope_condition

MAX_DOCUMENTS = 10
KIND_ZH = {"owner_reply": "权属单位答复附件", "protection_plan": "保护方案", "visit_photo": "监护照片",
           "damage_photo": "损坏现场照片"}


@dataclass(frozen=True)
class Upload:
    """One uploaded file as received."""

    filename: str | None
    content_type: str | None
    content: bytes


def check_upload(upload: Upload, field: str = "files") -> tuple[str, str]:
    """Return (detected type, safe name) of an acceptable upload, else raise with the reason."""
    allowed = "、".join(EVIDENCE_MAGIC)
    name = upload.filename or ""
    if len(upload.content) > MAX_EVIDENCE_BYTES:
        message = too_large_message(len(upload.content)).replace("字段 file", f"字段 {field}")
        raise EvidenceTooLargeError(message)
    if not upload.content:
        raise InvalidRequestError(f"字段 {field}：文件 {name} 为空")
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream" and declared not in EVIDENCE_MAGIC:
        raise InvalidRequestError(f"字段 {field}：文件 {name} 的类型 {declared} 不被接受，只接受 {allowed}")
    detected = detect_content_type(upload.content)
    if detected is None:
        raise InvalidRequestError(
            f"字段 {field}：文件 {name} 的内容不是 JPEG、PNG 或 PDF（文件头不符），只接受 {allowed}")
    if declared in EVIDENCE_MAGIC and declared != detected:
        raise InvalidRequestError(
            f"字段 {field}：文件 {name} 声明为 {declared}，但内容是 {detected}（文件头不符）")
    return detected, sanitise_filename(upload.filename, detected)


def check_uploads(uploads: Sequence[Upload], field: str = "files") -> list[tuple[Upload, str, str]]:
    """Check every upload before anything is stored (all or nothing)."""
    if len(uploads) > MAX_DOCUMENTS:
        raise InvalidRequestError(
            f"字段 {field}：一次最多上传 {MAX_DOCUMENTS} 个文件（收到 {len(uploads)} 个）")
    return [(u, *check_upload(u, field)) for u in uploads]


def store_documents(session: Session, actor, kind: str, checked, **owner_fk) -> list[dict]:
    """Store checked uploads attached to one record (``owner_review_id=...`` etc.); audit each."""
    (column, value), = owner_fk.items()
    out = []
    for upload, content_type, name in checked:
        digest = hashlib.sha256(upload.content).hexdigest()
        doc_id, at = session.execute(text(
            f"INSERT INTO procedure_document (kind, {column}, filename, content_type, size_bytes, "
            "sha256, content, uploaded_by) VALUES (:k, :v, :n, :t, :s, :sha, :c, :by) "
            "RETURNING id, uploaded_at"),
            {"k": kind, "v": value, "n": name, "t": content_type, "s": len(upload.content),
             "sha": digest, "c": upload.content, "by": getattr(actor, "username", None)}).one()
        meta = {"id": doc_id, "kind": kind, "filename": name, "content_type": content_type,
                "size_bytes": len(upload.content), "sha256": digest, "uploaded_at": at,
                "uploaded_by": getattr(actor, "username", None)}
        audit.record(session, actor, "document.upload", "procedure_document", doc_id,
                     {**{k: v for k, v in meta.items() if k != "uploaded_at"}, column: value})
        out.append(meta)
    return out


def organisation_clause(actor, action: str) -> tuple[str, dict]:
    """The permission table's grant of ``action`` to ``actor`` as an SQL condition and binds.

    The query names the project ``p`` and the pipeline ``g`` (403 without a grant).
    """
    return scope_condition(authorize(actor, action), project="p", pipeline="g")


def scope_of_conflict(session: Session, conflict_id: int, actor, *, action: str,
                      lock: bool = False) -> dict:
    """Return the conflict (with project and pipeline) if ``actor``'s grant of ``action``
    reaches it, else 404."""
    clause, params = organisation_clause(actor, action)
    row = session.execute(text(
        "SELECT c.id, c.zone, c.closed_at, c.distance_m, c.required_action, p.id AS project_id, "
        "p.registration_code AS project_code, p.name AS project_name, p.organisation, "
        "g.id AS pipeline_id, g.external_code AS pipeline_code, g.owner "
        "FROM pipeline_conflict c JOIN construction_project p ON p.id = c.project_id "
        f"JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.id = :id AND {clause}"
        + (" FOR SHARE OF c" if lock else "")),
        {"id": conflict_id, **params}).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"冲突 {conflict_id} 不存在")
    return dict(row)


def list_documents(session: Session, **owner_fk) -> list[dict]:
    """Metadata of the documents attached to one record."""
    (column, value), = owner_fk.items()
    rows = session.execute(text(
        "SELECT id, kind, filename, content_type, size_bytes, sha256, uploaded_at, uploaded_by "
        f"FROM procedure_document WHERE {column} = :v ORDER BY id"), {"v": value}).mappings().all()
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class DocumentBlob:
    """A stored document with what is needed to serve it."""

    id: int
    filename: str
    content_type: str
    sha256: str
    content: bytes


def get_document(session: Session, document_id: int, actor) -> DocumentBlob:
    """Return a document the actor may see (its record's organisation scope), else 404."""
    clause, params = organisation_clause(actor, "document.read")
    row = session.execute(text(
        "SELECT d.id, d.filename, d.content_type, d.sha256, d.content FROM procedure_document d "
        "LEFT JOIN owner_review r ON r.id = d.owner_review_id "
        "LEFT JOIN permit pm ON pm.id = d.permit_id "
        "LEFT JOIN supervision_visit v ON v.id = d.visit_id "
        "LEFT JOIN damage_report dr ON dr.id = d.damage_report_id "
        "LEFT JOIN pipeline_conflict c ON c.id = coalesce(r.conflict_id, pm.conflict_id, v.conflict_id) "
        "LEFT JOIN construction_project p ON p.id = coalesce(c.project_id, dr.project_id) "
        "LEFT JOIN gas_pipeline g ON g.id = coalesce(c.pipeline_id, dr.pipeline_id) "
        f"WHERE d.id = :id AND ({clause})"), {"id": document_id, **params}).one_or_none()
    if row is None:
        raise NotFoundError(f"文件 {document_id} 不存在")
    return DocumentBlob(row[0], row[1], row[2], row[3], bytes(row[4]))
