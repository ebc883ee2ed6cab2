"""Evidence files of inspections and hazards (photos, stamped drawings): checked, stored, served.

A file is accepted only when its leading bytes say JPEG, PNG or PDF (whatever the client
declares), stored with its SHA-256, and served only to actors whose grant reaches its
project.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.services import audit
from layers.services.actors import Actor
from layers.services.errors import InvalidRequestError, NotFoundError
from layers.services.inspections import get_inspection
from layers.services.permissions import authorize, scope_condition

MAX_EVIDENCE_BYTES = 20_000_000  # the evidence_file size check constraint (20 MB)
# Allow-listed evidence types and the leading bytes that identify them.
EVIDENCE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
EVIDENCE_EXTENSION = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
MAX_FILENAME = 200


class EvidenceTooLargeError(InvalidRequestError):
    """An evidence file exceeds the size limit (the API answers 413)."""


def too_large_message(size: int | None) -> str:
    """Return the Chinese message for an oversized evidence file."""
    got = f"（{size} 字节）" if size is not None else ""
    return (
        f"字段 file：证据文件过大{got}，单个文件上限 {MAX_EVIDENCE_BYTES // 1_000_000} MB"
        f"（{MAX_EVIDENCE_BYTES} 字节）；请压缩照片或拆分文件后重试"
    )


def detect_content_type(content: bytes) -> str | None:
    """Return the allow-listed type whose magic bytes start ``content``, else None."""
    for content_type, signatures in EVIDENCE_MAGIC.items():
        if any(content.startswith(sig) for sig in signatures):
            return content_type
    return None


def sanitise_filename(name: str | None, content_type: str) -> str:
    """Return a safe display name: no path, no control or shell characters, sane length."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\-()（）\u4e00-\u9fff ]+", "_", base).strip(" .")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if not stem:
        stem = "evidence"
    ext = f".{ext.lower()}" if ext else EVIDENCE_EXTENSION[content_type]
    return stem[: MAX_FILENAME - len(ext)] + ext[:16]


def add_evidence(
    session: Session,
    inspection_id: int,
    actor: Actor,
    *,
    filename: str | None,
    content_type: str | None,
    content: bytes,
    hazard_id: int | None = None,
) -> dict[str, Any]:
    """Store an evidence file of an inspection (or one of its hazards); return its metadata."""
    access = authorize(actor, "evidence.upload")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise EvidenceTooLargeError(too_large_message(len(content)))
    if not content:
        raise InvalidRequestError("字段 file：证据文件为空")
    declared = (content_type or "").split(";")[0].strip().lower()
    allowed = "、".join(EVIDENCE_MAGIC)
    if declared and declared != "application/octet-stream" and declared not in EVIDENCE_MAGIC:
        raise InvalidRequestError(f"字段 file：不接受类型 {declared}，只接受 {allowed}")
    detected = detect_content_type(content)
    if detected is None:
        raise InvalidRequestError(
            f"字段 file：文件 {filename or ''} 的内容不是 JPEG、PNG 或 PDF（文件头不符），只接受 {allowed}"
        )
    if declared in EVIDENCE_MAGIC and declared != detected:
        raise InvalidRequestError(
            f"字段 file：文件 {filename or ''} 声明为 {declared}，但内容是 {detected}（文件头不符）"
        )
    inspection = get_inspection(session, inspection_id, access)  # visibility check
    if hazard_id is not None and hazard_id not in {h["id"] for h in inspection["hazards"]}:
        raise InvalidRequestError(f"字段 hazard_id：隐患 {hazard_id} 不属于检查记录 {inspection_id}")
    digest = hashlib.sha256(content).hexdigest()
    safe_name = sanitise_filename(filename, detected)
    evidence_id = session.execute(
        text(
            "INSERT INTO evidence_file (inspection_id, hazard_id, filename, content_type, "
            "size_bytes, sha256, content, uploaded_by) VALUES (:i, :h, :n, :t, :s, :sha, :c, :by) "
            "RETURNING id, uploaded_at"
        ),
        {"i": inspection_id, "h": hazard_id, "n": safe_name, "t": detected, "s": len(content),
         "sha": digest, "c": content, "by": actor.username},
    ).one()
    audit.record(
        session, actor, "evidence.upload", "evidence_file", evidence_id[0],
        {"inspection_id": inspection_id, "hazard_id": hazard_id, "filename": safe_name,
         "content_type": detected, "size_bytes": len(content), "sha256": digest},
    )
    return {"id": evidence_id[0], "inspection_id": inspection_id, "hazard_id": hazard_id,
            "filename": safe_name, "content_type": detected, "size_bytes": len(content),
            "sha256": digest, "uploaded_at": evidence_id[1],
            "uploaded_by": actor.username}


@dataclass(frozen=True)
class EvidenceBlob:
    """A stored evidence file with what is needed to serve it."""

    id: int
    filename: str
    content_type: str
    sha256: str
    content: bytes


def get_evidence(session: Session, evidence_id: int, actor: Actor) -> EvidenceBlob:
    """Return an evidence file the actor may see."""
    scope, scope_params = scope_condition(authorize(actor, "evidence.read"))
    row = session.execute(
        text(
            "SELECT e.id, e.filename, e.content_type, e.sha256, e.content "
            "FROM evidence_file e LEFT JOIN hazard h ON h.id = e.hazard_id "
            "JOIN inspection i ON i.id = coalesce(e.inspection_id, h.inspection_id) "
            f"JOIN construction_project p ON p.id = i.project_id WHERE e.id = :id AND {scope}"
        ),
        {"id": evidence_id, **scope_params},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"证据文件 {evidence_id} 不存在")
    return EvidenceBlob(row[0], row[1], row[2], row[3], bytes(row[4]))
