"""The FastAPI application factory: one engine per process, created in the lifespan."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from gisapp import outbox
from gisapp.api import errors
from gisapp.api.admission import Admission, pool_size_for
from gisapp.api.hashing import hash_slots
from gisapp.api.limits import BodySizeLimit
from gisapp.api.replica_headers import ReadSourceHeaders
from gisapp.api.security_headers import SecurityHeaders
from gisapp.api.streams import StreamSlots, streams_full_message
from gisapp.api.transaction import write_limiter
from gisapp.api.uploads import upload_limit
from gisapp.channels import parse_smtp_url
from gisapp.overview_refresh import OverviewJob
from gisapp.permit_expiry import ExpiryJob
from gisapp.rule_watch import RULE_SWITCH_JOB, RuleWatch, watches
from gisapp.settings import Settings
from layers.db import make_engine, session_factory, warm_pool
from layers.district import district_extent_lonlat, district_name, use_jurisdiction
from layers.replica import ReadRouter
from layers.services.districts import APP_ROLE
from layers.services.features import WriteContext
from layers.services.notify import Channels
from layers.services.permissions import authorize
from maps.basemap import Basemap
from spatial_rules.crs import from_metric, to_metric
from spatial_rules.rulesets import load_rule_set

# A pooled connection idle this long is tested before use (layers.db.make_engine).
PING_AFTER_IDLE_S = 5.0


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, server: bool = False
) -> FastAPI:
    """Build the app; ``database_url`` overrides the settings (tests, ``gisapp serve``).

    ``server``: a long-running server process opens and warms its pooled connections
    at start and moves everything alive after start-up out of the garbage collector's
    reach (``gc.freeze``); tests leave it off and start in milliseconds.
    """
    settings = settings or Settings()
    use_jurisdiction(settings.jurisdiction)
    webhook_urls = outbox.check_webhook_urls(settings.webhook_urls)  # refuse bad URLs at start
    smtp = parse_smtp_url(settings.smtp_url, settings.smtp_from)  # and a bad SMTP URL

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        url = database_url or str(settings.database_url)
        # LIFO: a quiet moment lets surplus connections idle while the busy ones stay warm
        # (prepared statements, PROJ, catalog caches).
        # Request connections act as gisapp_app, bound by row-level security.
        # The pool is larger than the admitted requests can use (gisapp.api.admission):
        # a request never waits for a connection held by one that waits for a thread.
        pool_total = pool_size_for(settings.max_active_requests)
        engine = make_engine(url, pool_size=min(10, pool_total), max_overflow=max(0, pool_total - 10),
                             pool_use_lifo=True, pool_timeout=10, connect_args={"connect_timeout": 5},
                             warm_projection=server, act_as=APP_ROLE, ping_after_idle_s=PING_AFTER_IDLE_S)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        read_engine = (make_engine(str(settings.read_database_url), pool_size=5, act_as=APP_ROLE,
                                   max_overflow=max(10, pool_total - 5), pool_timeout=10,
                                   pool_use_lifo=True, ping_after_idle_s=PING_AFTER_IDLE_S)
                       if settings.read_database_url else None)
        app.state.reads = ReadRouter(app.state.sessions, read_engine,
                                     max_lag_s=settings.read_max_lag_s)
        app.state.write_limiter = write_limiter(settings.write_concurrency)
        app.state.stream_slots = StreamSlots(settings.sse_max_streams, settings.sse_max_streams_per_user)
        app.state.stream_polls = None  # made by the first stream, in the event loop
        app.state.hash_limiter = None  # made by the first login, in the event loop
        # Build the cached district extent and transformers now, not in the threads of
        # the first requests, which would each build their own copy at once.
        district_extent_lonlat(float(settings.district_margin_m))
        to_metric(), from_metric()
        if server:
            try:
                warm_pool(engine, settings.write_concurrency + 2)
            except SQLAlchemyError as exc:  # the pool fills on demand instead
                app.state.logger.warning("could not open the connection pool at start: %s", exc)
            # A server process starts with ~175,000 long-lived objects (geopandas,
            # shapely, folium, the app): each full collection traversed them all and
            # paused every request of the worker for 80-200 ms. Frozen, they are
            # never traversed again.
            gc.collect()
            gc.freeze()
        # Webhook deliveries of the outbox run only when receivers are configured.
        interval_s = settings.outbox_interval_s
        # (and e-mail, and the organisations' WeCom/DingTalk robots, which are data: a
        # server process always dispatches).
        dispatch = settings.outbox_dispatch
        if dispatch is None:
            dispatch = bool(webhook_urls) or smtp is not None or server
        dispatcher = (outbox.Dispatcher(engine, interval_s=interval_s, smtp=smtp).start()
                      if dispatch else None)
        app.state.dispatcher = dispatcher
        expiry_s = settings.permit_expiry_interval_s
        expiry = (ExpiryJob(engine, interval_s=expiry_s, warn_days=settings.answer_warn_days,
                            channels=Channels(smtp=smtp is not None,
                                              webhook_urls=tuple(webhook_urls))).start()
                  if expiry_s > 0 else None)
        overview_s = settings.overview_refresh_interval_s
        overview = OverviewJob(engine, interval_s=overview_s).start() if overview_s > 0 else None
        watch = None
        if settings.rule_check_interval_s > 0 and watches(settings.rule_set):
            def ctx_for(rule_set):
                return WriteContext.of(authorize(RULE_SWITCH_JOB, "data.screen"), rule_set,
                                       webhook_urls=settings.webhook_urls,
                                       margin_m=settings.district_margin_m,
                                       alert_burst=settings.alert_burst_threshold)

            watch = RuleWatch(engine, app.state, settings.rule_set.strip().lower(), ctx_for,
                              interval_s=settings.rule_check_interval_s).start()
        app.state.rule_watch = watch
        yield
        if watch is not None:
            watch.stop()
        if expiry is not None:
            expiry.stop()
        if overview is not None:
            overview.stop()
        if dispatcher is not None:
            dispatcher.stop()
        engine.dispose()
        if read_engine is not None:
            read_engine.dispose()

    app = FastAPI(
        title=f"{district_name()}燃气管道保护 GIS 服务",
        description="施工项目、燃气管道、冲突告警与保护手续。几何均为 GeoJSON（RFC 7946，经纬度）。",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: /docs is served from
        # vendored files instead (gisapp.api.routes.docs).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.rule_set = load_rule_set(settings.rule_set)
    # Opened now: a missing or vector-tile file is refused at start, not on the first map.
    app.state.basemap = Basemap(settings.basemap_file) if settings.basemap_file else None
    app.state.logger = logging.getLogger("gisapp.api")
    app.state.hash_threads = hash_slots(settings.login_hash_concurrency)  # own password changes
    app.add_middleware(ReadSourceHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       upload_max_bytes=settings.max_upload_bytes, upload_limit_for=upload_limit(app))
    # Outermost: a refused request costs no thread, no connection and no body read.
    app.add_middleware(Admission, max_active=settings.max_active_requests,
                       max_queued=settings.max_queued_requests, wait_s=settings.queue_wait_s,
                       streaming_paths=("/api/alerts/stream",), max_streams=settings.sse_max_streams,
                       streams_full_message=streams_full_message(settings.sse_max_streams))
    # Outermost of all, so every answer (refusals of admission and size too) carries them.
    app.add_middleware(SecurityHeaders, tile_url=settings.tile_url)
    errors.install(app)
    from gisapp.api.routes import register_routes

    register_routes(app)
    from gisapp.web import register_web

    register_web(app)
    return app
