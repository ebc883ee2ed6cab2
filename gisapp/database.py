"""Which database to use: ``DATABASE_URL`` when set, else the embedded local cluster."""

from __future__ import annotations

from gisapp.localdb import LocalCluster, LocalDbError
from gisapp.settings import Settings


def local_cluster(settings: Settings) -> LocalCluster:
    """Return the embedded cluster described by the settings."""
    return LocalCluster(settings.data_dir, port=settings.pg_port, os_user=settings.pg_os_user)


def database_url(settings: Settings, *, start: bool = False) -> str:
    """Return the database URL; with ``start``, bring the embedded cluster up if needed."""
    if settings.database_url is not None:
        return str(settings.database_url)
    cluster = local_cluster(settings)
    if start:
        return cluster.start().url()
    state = cluster.state()
    if state is None or not cluster.is_running():
        raise LocalDbError(
            f"本地 PostGIS 未运行（数据目录 {cluster.data_dir}）。请先执行：gisapp db up，"
            "或设置 DATABASE_URL 使用外部数据库。"
        )
    return state.url()


def prepare_database(url: str) -> str | None:
    """Create the PostGIS extension if allowed and migrate to head; return the revision."""
    from sqlalchemy import text

    from layers.db import make_engine
    from layers.migrate import current_revision, upgrade

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            has_postgis = conn.execute(
                text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
            if not has_postgis:
                raise LocalDbError(
                    "数据库服务器未安装 PostGIS 扩展。请在数据库服务器上安装 postgresql-<版本>-postgis-3。"
                )
            upgrade(connection=conn)
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def ready_engine(settings: Settings, *, act_as: str | None = None):
    """Return an engine on a migrated database, starting the embedded cluster if needed.

    ``act_as``: the role its connections act as (``layers.db.make_engine``).
    """
    from layers.db import make_engine

    url = database_url(settings, start=True)
    prepare_database(url)
    return make_engine(url, act_as=act_as)
