"""The outbox's channels besides generic webhooks: e-mail (SMTP), WeCom and DingTalk robots.

- E-mail: one message per recipient, sent with ``smtplib`` to ``GISAPP_SMTP_URL``
  (``smtp://host:port``, ``smtp+starttls://``, ``smtps://``; user and password in the
  URL when the server wants them). The Message-ID is derived from the deduplication
  key, so a message sent twice (at-least-once delivery) is the same message to a mail
  client.
- WeCom (企业微信) group robot: a JSON ``markdown`` message POSTed to the robot's
  webhook URL; WeCom answers HTTP 200 with ``errcode`` 0 on success.
- DingTalk (钉钉) group robot: a JSON ``markdown`` message; a robot with "加签" security
  needs ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret, "timestamp\\nsecret"))
  on the URL, computed at send time (DingTalk refuses timestamps older than an hour), with
  the secret read from the organisation row, never stored in the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote, unquote, urlencode, urlsplit

from spatial_rules.errors import DomainError


class SmtpUrlError(DomainError):
    """GISAPP_SMTP_URL is not a usable smtp:// URL."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes and as whom."""

    host: str
    port: int
    sender: str
    security: str = "none"  # none, starttls, ssl
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0


def parse_smtp_url(url: str, sender: str) -> SmtpConfig | None:
    """Return the SMTP configuration of ``GISAPP_SMTP_URL`` (None when empty)."""
    if not url or not url.strip():
        return None
    parts = urlsplit(url.strip())
    schemes = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("ssl", 465)}
    if parts.scheme not in schemes or not parts.hostname:
        raise SmtpUrlError(
            f"配置项 GISAPP_SMTP_URL：“{url}”无效，应为 smtp://主机:端口、smtp+starttls://… 或 smtps://…")
    security, default_port = schemes[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise SmtpUrlError(f"配置项 GISAPP_SMTP_URL：端口无效（{url}）") from exc
    return SmtpConfig(parts.hostname, port, sender, security,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


def send_email(smtp: SmtpConfig | None, row) -> tuple[str | None, bool]:
    """Send one e-mail outbox row; (None, False) on success, else (error, permanent?)."""
    if smtp is None:
        return "未配置 GISAPP_SMTP_URL，邮件暂不能发送", False
    recipient = row.target_url.removeprefix("mailto:")
    payload = row.payload or {}
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = recipient
    message["Subject"] = str(payload.get("subject", "燃气管道保护通知"))
    message["Date"] = formatdate(localtime=True)
    key = getattr(row, "dedup_key", None) or f"outbox-{row.id}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@gisapp>"
    message["X-Gisapp-Event-Key"] = key
    message.set_content(str(payload.get("body", "")))
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        return f"邮件服务器拒收地址 {recipient}：{exc}"[:2000], True
    except (smtplib.SMTPException, OSError) as exc:
        return f"邮件发送失败（{type(exc).__name__}）：{exc}"[:2000], False
    return None, False


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    """The robot URL with ``timestamp`` and ``sign`` appended (signed now unless given)."""
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    query = urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(secret, timestamp_ms)},
                      quote_via=quote)
    return f"{url}{'&' if '?' in url else '?'}{query}"


def robot_error(response) -> tuple[str | None, bool]:
    """WeCom and DingTalk answer 200 with ``errcode``; anything but 0 is a failure to retry."""
    try:
        body = response.json()
    except ValueError:
        return None, False  # a receiver that is not the real service (tests, proxies)
    if isinstance(body, dict) and body.get("errcode", 0) not in (0, "0"):
        return f"机器人返回 errcode {body.get('errcode')}：{str(body.get('errmsg'))[:300]}", False
    return None, False
