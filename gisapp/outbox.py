"""Webhook dispatcher of the transactional outbox: alerts POSTed to receivers, with retries.

``layers.services.alerts.raise_alerts`` writes one ``outbox_message`` row per alert and
receiver in the transaction that created the conflict, so a delivery exists exactly
when its alert does and survives a crash. ``deliver_due`` sends the due rows:

- Claiming: one row at a time, ``SELECT ... FOR UPDATE SKIP LOCKED``, in a transaction
  that stays open for that one send (at most ``timeout_s``) and records its outcome.
  The row lock is the claim: two dispatchers never send the same row at once, and a
  dispatcher killed mid-send (kill -9, power cut of the worker) loses its connection,
  so PostgreSQL rolls the claim back at once and the row is due again the moment any
  dispatcher looks: seconds after the server comes back, not after a lease (a 280 s
  lease per batch delayed deliveries by 4.5 minutes after a crash). A row whose send
  reached the receiver but whose outcome was never committed is sent again, which is
  why receivers get ``X-Gisapp-Delivery: <row id>`` to drop duplicates (delivery is
  at-least-once on the wire, exactly-once per receiver that de-duplicates).
- Success is any 2xx answer: ``delivered_at`` is set. Anything else (other status,
  connection error, timeout) stores ``last_error`` and schedules the next try after
  5 s * 2^(attempts-1), capped at 1 h, plus up to 10 % jitter.
- After ``MAX_ATTEMPTS`` tries the row is no longer claimed: it stays in the table,
  undelivered, with its last error, for an operator to inspect and reset
  (``UPDATE outbox_message SET attempts = 0, next_attempt_at = now() WHERE id = ...``).
  A row whose URL is not http/https is given up at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy.engine import Engine

from gisapp.background import BackgroundLoop
from gisapp.channels import SmtpConfig, dingtalk_signed_url, robot_error, send_email
from layers.services import outbox as store
from layers.services.actors import Actor
from layers.services.outbox import MAX_ATTEMPTS
from layers.services.permissions import authorize
from spatial_rules.errors import DomainError

logger = logging.getLogger("gisapp.outbox")

BASE_DELAY_S = 5.0
MAX_DELAY_S = 3600.0
JITTER = 0.1
DEFAULT_INTERVAL_S = 2.0
USER_AGENT = "gisapp-outbox/0.1"
OUTBOX_JOB = Actor.job("outbox")  # the dispatcher's actor


class WebhookUrlError(DomainError):
    """A configured webhook URL is not an absolute http/https URL."""


def check_webhook_url(url: str) -> str:
    """Return ``url`` if it is an absolute http/https URL, else raise ``WebhookUrlError``."""
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise WebhookUrlError(
            f"配置项 GISAPP_WEBHOOK_URLS：告警推送地址“{url}”无效，"
            "只接受 http:// 或 https:// 开头的完整网址"
        )
    return url.strip()


def check_webhook_urls(urls: Iterable[str]) -> list[str]:
    """Validate every configured webhook URL (settings load, app start)."""
    return [check_webhook_url(u) for u in urls]


def backoff_s(attempts: int, *, rng: random.Random | None = None) -> float:
    """Return the delay in seconds before the next try after ``attempts`` failed tries."""
    base = min(BASE_DELAY_S * 2 ** max(attempts - 1, 0), MAX_DELAY_S)
    return base * (1 + JITTER * (rng or random).random())


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` pass did (row ids of the outbox)."""

    claimed: int = 0
    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)


def _send(client: httpx.Client | _LazyClient, row, *, smtp: SmtpConfig | None = None,
          secret: str | None = None) -> tuple[str | None, bool]:
    """Send one message; return (None, False) on success, else (error to store, permanent?)."""
    channel = getattr(row, "channel", "webhook") or "webhook"
    if channel == "email":
        return send_email(smtp, row)
    try:
        check_webhook_url(row.target_url)
    except WebhookUrlError as err:
        return str(err), True
    headers = {"X-Gisapp-Delivery": str(row.id), "X-Gisapp-Attempt": str(row.attempts),
               "User-Agent": USER_AGENT}
    if getattr(row, "dedup_key", None):  # percent-encoded: organisation names are Chinese
        headers["X-Gisapp-Event-Key"] = quote(row.dedup_key, safe=":/@=-_.")
    url = row.target_url
    if channel == "dingtalk" and secret:
        url = dingtalk_signed_url(url, secret)
    try:
        response = client.post(url, json=row.payload, headers=headers)
    except httpx.HTTPError as exc:
        return f"发送失败（{type(exc).__name__}）：{exc}"[:2000], False
    if 200 <= response.status_code < 300:
        if channel in ("wecom", "dingtalk"):
            return robot_error(response)
        return None, False
    return f"接收方返回 HTTP {response.status_code}：{response.text[:500]}", False


class _LazyClient:
    """The pass's HTTP client, made when its first webhook or robot message is sent.

    Making an ``httpx.Client`` loads the CA bundle into a TLS context (tens of ms of
    CPU): every idle pass, each worker every 2 s, paid that for nothing, about 3 % of a
    core taken from the requests.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._client: httpx.Client | None = None

    def post(self, url: str, **kwargs) -> httpx.Response:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        return self._client.post(url, **kwargs)

    def __enter__(self) -> _LazyClient:
        return self

    def __exit__(self, *_exc) -> None:
        if self._client is not None:
            self._client.close()


def deliver_due(engine: Engine, *, now: dt.datetime | None = None, batch: int = 50,
                timeout_s: float = 5, stop: threading.Event | None = None,
                smtp: SmtpConfig | None = None) -> DeliveryReport:
    """Send up to ``batch`` due outbox messages once each; record success or the retry time.

    Each message is claimed, sent and settled in its own transaction on one connection
    (the row lock is the claim; see the module's docstring): webhooks, e-mail through
    ``smtp``, WeCom and DingTalk robots (signed with the organisation's secret) alike.
    """
    authorize(OUTBOX_JOB, "alert.deliver")
    report = DeliveryReport()
    with _LazyClient(timeout_s) as client, engine.connect() as conn:
        for _ in range(batch):
            if stop is not None and stop.is_set():
                break
            with conn.begin():
                row = store.claim_one(conn, now=now)
                if row is None:
                    break
                report.claimed += 1
                try:
                    secret = (store.dingtalk_secret(conn, row.target_url)
                              if row.channel == "dingtalk" else None)
                    error, permanent = _send(client, row, smtp=smtp, secret=secret)
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
                    logger.exception("outbox message %s could not be sent", row.id)
                    error, permanent = f"发送出错（{type(exc).__name__}）：{exc}"[:2000], False
                if error is None:
                    store.mark_delivered(conn, row.id, now=now, attempts=row.attempts)
                    report.delivered.append(row.id)
                    continue
                attempts = MAX_ATTEMPTS if permanent else row.attempts
                if attempts >= MAX_ATTEMPTS:
                    error = f"已放弃（共尝试 {row.attempts} 次）：{error}"
                    report.given_up.append(row.id)
                    logger.error("outbox message %s given up: %s", row.id, error)
                else:
                    report.failed.append(row.id)
                    logger.warning("outbox message %s attempt %s failed: %s",
                                   row.id, attempts, error)
                store.mark_failed(conn, row.id, now=now, error=error, attempts=attempts,
                                  delay_s=backoff_s(attempts))
    return report


class Dispatcher(BackgroundLoop):
    """Run ``deliver_due`` in a background thread every ``interval_s`` seconds."""

    thread_name = "gisapp-outbox"
    logger_name = "gisapp.outbox"
    what = "outbox dispatch pass"

    def __init__(self, engine: Engine, *, interval_s: float = DEFAULT_INTERVAL_S,
                 batch: int = 50, timeout_s: float = 5, smtp: SmtpConfig | None = None) -> None:
        """Prepare a dispatcher on ``engine``; nothing runs until ``start``."""
        super().__init__(interval_s=interval_s)
        self.engine = engine
        self.smtp = smtp
        self.batch = batch
        self.timeout_s = timeout_s

    def stop(self, wait_s: float | None = None) -> None:
        """Ask the loop to end and wait for the pass in progress to finish."""
        # At most the message being sent is waited for; the rest stay due for the next start.
        super().stop(wait_s if wait_s is not None else self.timeout_s * 4 + 5)

    def run_once(self) -> bool:
        """Deliver one batch; a full batch means more are due: go again at once."""
        report = deliver_due(self.engine, batch=self.batch, timeout_s=self.timeout_s,
                             stop=self._stop, smtp=self.smtp)
        return report.claimed >= self.batch
