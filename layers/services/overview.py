"""The generalised pipeline network of the low-zoom tiles (table ``pipeline_overview``).

Below zoom 14 a map draws the mains only, and at Shanghai size a zoom-9 view held
~14,000 of their segments, each one sub-pixel feature for the browser to build and keep.
The overview holds them merged end to end per district, pressure class and ~5 km cell
(migration 0026). A pipeline write never waits for it: the database records the keys a
write touched (``pipeline_overview_change``), the tiles draw those keys from the live
segments until a refresh has rebuilt them, and the server refreshes every few seconds
(``gisapp.overview_refresh``; the importer at once after its commit).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# The grid of the overview's rows, in degrees (migration 0026's CELL_DEG and
# gisapp_ref.overview_cell_x/_y: a segment's cell holds its bounding box's south-west corner).
CELL_DEG = 0.05
# Changes rebuilt per pass: a whole Shanghai import records a few hundred keys; one pass
# rebuilds them in well under a second, and a longer backlog is worked off pass by pass.
BATCH_CHANGES = 5_000


def refresh_overview(session: Session, max_changes: int = BATCH_CHANGES) -> int | None:
    """Rebuild the overview's keys of up to ``max_changes`` pending changes this session sees.

    Return how many changes were worked off (0: none pending), or None when another
    transaction is refreshing (its advisory lock): that pass will see these changes.
    Within a writing transaction its own writes are rebuilt too; the lock is then held
    until it ends, and other refreshers skip meanwhile.
    """
    done = session.execute(text("SELECT gisapp_ref.refresh_pipeline_overview(:n)"),
                           {"n": max_changes}).scalar_one()
    return None if done < 0 else int(done)


def pending_changes(session: Session) -> int:
    """Return how many pipeline changes wait for a refresh (in the districts this session sees)."""
    return int(session.execute(text("SELECT count(*) FROM pipeline_overview_change")).scalar_one())
