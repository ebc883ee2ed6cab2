"""Settings: one pydantic-settings class, env prefix ``GISAPP_``, ``.env`` support.

Nothing here is read at import time; callers build ``Settings()`` and pass it on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, PostgresDsn, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_data_dir() -> Path:
    """Return where the embedded PostGIS keeps its cluster when nothing else is set."""
    return Path.cwd() / ".gisapp"


class Settings(BaseSettings):
    """Runtime settings of the service and the CLI."""

    model_config = SettingsConfigDict(env_prefix="GISAPP_", env_file=".env", extra="ignore")

    # An external PostGIS; when unset, the embedded local cluster is used.
    database_url: PostgresDsn | None = Field(
        default=None, validation_alias=AliasChoices("GISAPP_DATABASE_URL", "DATABASE_URL")
    )
    # A streaming read replica for lag-tolerant reads (map data, reports); writes and
    # reads of one's own writes stay on the primary (layers.replica). Unset: no replica.
    read_database_url: PostgresDsn | None = None
    # A replica further behind than this (seconds) is skipped until it catches up.
    read_max_lag_s: float = Field(default=10.0, ge=0, le=3600)
    data_dir: Path = Field(default_factory=default_data_dir)
    pg_port: int = Field(default=54329, ge=1024, le=65535)
    # Unprivileged OS user that runs the embedded server when gisapp runs as root.
    pg_os_user: str = "postgres"
    # The jurisdiction this deployment serves: a Shanghai district by alias, Chinese name or
    # adcode (chongming, 浦东新区, 310115), or the whole city (shanghai, 310100).
    jurisdiction: str = "chongming"
    # Features may lie at most this far outside the district boundary (metres).
    district_margin_m: float = Field(default=2000.0, ge=0, le=50000)
    # Base map tile URL for map pages; empty means no tiles (offline default).
    tile_url: str = ""
    # Shown on the map when tile_url is set (the tile provider's required credit).
    tile_attribution: str = ""
    # A raster MBTiles or PMTiles file served as the base map (intranet, no internet);
    # it takes the place of tile_url.
    basemap_file: Path | None = None
    # A family (follows the calendar: the server switches on the day a version takes
    # effect), a version such as shanghai@2018.1 (pinned), or a YAML/JSON file.
    rule_set: str = "shanghai"
    # How often a server whose rule_set is a family checks the version in force (0: never).
    rule_check_interval_s: float = Field(default=60.0, ge=0, le=86_400)
    # The campaign's dates, stage windows and quota (a YAML file as ``gisapp campaign
    # --settings`` takes); unset: the district work plan's defaults. Used by the CLI, the
    # API, the maps and the report alike; a stored plan keeps the settings it was drawn with.
    campaign_settings: Path | None = None
    # Service
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token_ttl_minutes: int = Field(default=720, ge=5, le=60 * 24 * 30)
    # Alerts are POSTed to these URLs through the outbox (JSON list or comma separated).
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    outbox_interval_s: float = Field(default=2.0, gt=0, le=3600)
    # Approved permits past their validity are expired this often by the server (0: never;
    # then run ``gisapp permits expire`` from cron).
    permit_expiry_interval_s: float = Field(default=3600.0, ge=0, le=86_400)
    # The low-zoom tiles' generalised network is rebuilt this often after pipeline writes
    # (0: never by this server; the tiles then draw changed cells from the live segments).
    overview_refresh_interval_s: float = Field(default=5.0, ge=0, le=86_400)
    # Feature writes one worker process runs at once; later ones wait in arrival order
    # (gisapp.api.transaction). Measured best at 3-5 on 2 cores with 2 workers.
    write_concurrency: int = Field(default=4, ge=1, le=64)
    # The protection procedure (issue #14).
    # An answer letter (查询答复书) is valid this many days from its issue.
    answer_valid_days: int = Field(default=30, ge=1, le=366)
    # Builders are told this many days before their answer expires.
    answer_warn_days: int = Field(default=7, ge=0, le=60)
    # A pipeline owner replies to a new conflict within this many working days.
    owner_reply_days: int = Field(default=2, ge=1, le=60)
    # A start notice (开工告知) reaches the owners this many working days before work.
    start_notice_days: int = Field(default=3, ge=0, le=60)
    # E-mail notifications: smtp://host:port (or smtps://user:password@host:port); empty: none.
    smtp_url: str = ""
    smtp_from: str = "gisapp@localhost"
    # Run the outbox dispatcher: None = when any receiver is configured or in a server process.
    outbox_dispatch: bool | None = None
    max_body_bytes: int = Field(default=2_000_000, ge=10_000)
    max_upload_bytes: int = Field(default=200_000_000, ge=10_000)
    # --- Hardening (issue 12) -------------------------------------------------------------
    # Uploads by builders (imports) are smaller; refused before the body is read.
    builder_max_upload_bytes: int = Field(default=20_000_000, ge=10_000)
    # Vertices of one feature, and of all features of one import, per role.
    builder_max_feature_vertices: int = Field(default=5_000, ge=4)
    max_feature_vertices: int = Field(default=200_000, ge=4)
    builder_max_import_vertices: int = Field(default=200_000, ge=4)
    max_import_vertices: int = Field(default=5_000_000, ge=4)
    # Construction sites: beyond the hard limits a site is refused; beyond the review
    # thresholds a builder's site is stored but held for the gas office's review.
    site_max_area_m2: float = Field(default=5_000_000.0, gt=0)
    site_max_extent_m: float = Field(default=15_000.0, gt=0)
    site_review_area_m2: float = Field(default=200_000.0, gt=0)
    site_review_extent_m: float = Field(default=2_000.0, gt=0)
    # A builder sees at most this many pipeline segments, whatever its sites.
    builder_max_visible_pipelines: int = Field(default=500, ge=1)
    # The map pages draw the pipelines from vector tiles (/api/tiles) from this many
    # segments on, whole-feature GeoJSON below (0: always tiles).
    map_tiles_from_segments: int = Field(default=50_000, ge=0)
    # More new alerts than this from one request or import go to webhooks as one summary.
    alert_burst_threshold: int = Field(default=20, ge=1)
    # Requests one worker serves at once; more wait up to queue_wait_s in a queue of at
    # most max_queued_requests, the rest get 503 with Retry-After at once.
    max_active_requests: int = Field(default=24, ge=1, le=500)
    max_queued_requests: int = Field(default=100, ge=0)
    queue_wait_s: float = Field(default=2.0, gt=0, le=60)
    # Live alert streams (SSE) per worker, and per user.
    sse_max_streams: int = Field(default=100, ge=1)
    sse_max_streams_per_user: int = Field(default=5, ge=1)
    # Login: failed attempts per account / per client address within the window, and
    # Argon2 verifications (64 MiB each) one worker runs at once.
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_window_s: float = Field(default=900.0, gt=0)
    login_hash_concurrency: int = Field(default=2, ge=1, le=64)
    # HTTP connections (gisapp.http_protocol): a request's headers must arrive within this
    # time and size (slowloris); an idle keep-alive connection closes after keep_alive_s.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    keep_alive_s: int = Field(default=5, ge=1, le=300)
    # A request body must keep coming: after body_grace_s it must have arrived at
    # body_min_rate_bytes_s on average, else 408 and the connection ends.
    body_grace_s: float = Field(default=10.0, gt=0, le=300)
    body_min_rate_bytes_s: float = Field(default=1000.0, ge=0)

    @field_validator("jurisdiction")
    @classmethod
    def _known_jurisdiction(cls, value: str) -> str:
        """Refuse an unknown jurisdiction at start, with the ones that exist."""
        from layers.jurisdictions import jurisdiction

        return jurisdiction(value).code

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value):
        """Accept a JSON list or a comma-separated string of URLs."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value
