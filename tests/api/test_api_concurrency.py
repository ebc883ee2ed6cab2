"""Concurrent writes through a real uvicorn server: exactly one alert per conflict, no 500."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from tests.factories import site_feature
from tests.servers import live_server

pytestmark = pytest.mark.postgis


@pytest.fixture()
def live_api(database_url, clean_db):
    """Base URL of the real app served by uvicorn on the test database (tables emptied after)."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None), database_url=database_url)
    with live_server(app) as base_url:
        yield base_url


@pytest.fixture()
def single_writer_api(database_url, clean_db):
    """The live app with one feature write at a time per worker (GISAPP_WRITE_CONCURRENCY=1)."""
    from gisapp.api.app import create_app
    from gisapp.settings import Settings

    app = create_app(Settings(_env_file=None, write_concurrency=1), database_url=database_url)
    with live_server(app) as base_url:
        yield base_url


def run_together(calls: list[Callable[[httpx.Client], httpx.Response]], base_url: str):
    """Run the calls in threads released at once; return their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            barrier.wait()
            try:
                results[i] = calls[i](client)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        assert isinstance(r, httpx.Response), f"request failed: {r!r}"
    return results


def _counts(engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT (SELECT count(*) FROM construction_project) AS projects, "
            "(SELECT count(*) FROM pipeline_conflict WHERE closed_at IS NULL) AS conflicts, "
            "(SELECT count(*) FROM alert) AS alerts, "
            "(SELECT count(*) FROM permit) AS permits, "
            "(SELECT count(*) FROM (SELECT 1 FROM pipeline_conflict WHERE closed_at IS NULL "
            " GROUP BY project_id, pipeline_id, rule_set HAVING count(*) > 1) d) AS duplicate_pairs, "
            "(SELECT count(*) FROM pipeline_conflict c WHERE NOT EXISTS "
            " (SELECT 1 FROM alert a WHERE a.conflict_id = c.id)) AS conflicts_without_alert"
        )).mappings().one())


def test_ten_builders_registering_sites_on_the_trunk_get_one_alert_each(live_api, login,
                                                                       stored_network):
    office = login("gas_office")
    calls = [
        (lambda c, i=i: c.post("/api/projects", headers=office,
                               json=site_feature(f"CM-CC-{i:02d}", 121.385 + i * 0.002, 31.6299)))
        for i in range(10)
    ]
    answers = run_together(calls, live_api)
    assert [r.status_code for r in answers] == [201] * 10, [r.text for r in answers if r.status_code != 201]
    assert all([c["pipeline_id"] for c in r.json()["conflicts"]] == ["HP-T1"] for r in answers)
    assert _counts(stored_network) == {"projects": 10, "conflicts": 10, "alerts": 10, "permits": 10,
                                       "duplicate_pairs": 0, "conflicts_without_alert": 0}


def test_same_idempotency_key_from_eight_retries_writes_once(live_api, login, stored_network):
    office = login("gas_office")
    headers = {**office, "Idempotency-Key": "burst-7"}
    body = site_feature("CM-CC-IDEM", 121.40, 31.6299)
    answers = run_together([lambda c: c.post("/api/projects", headers=headers, json=body)] * 8, live_api)
    assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 7
    assert _counts(stored_network) == {"projects": 1, "conflicts": 1, "alerts": 1, "permits": 1,
                                       "duplicate_pairs": 0, "conflicts_without_alert": 0}


def test_same_body_with_different_keys_creates_one_and_refuses_the_rest(live_api, login,
                                                                       stored_network):
    office = login("gas_office")
    body = site_feature("CM-CC-DUP", 121.40, 31.6299)
    keys = [f"k-{i}" for i in range(5)] + [None] * 3
    calls = [
        (lambda c, k=k: c.post("/api/projects", json=body,
                               headers={**office, **({"Idempotency-Key": k} if k else {})}))
        for k in keys
    ]
    answers = run_together(calls, live_api)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 7, [r.text for r in answers]
    refused = [r.json()["detail"] for r in answers if r.status_code == 409]
    assert all("CM-CC-DUP" in d and "已存在" in d for d in refused)
    assert _counts(stored_network) == {"projects": 1, "conflicts": 1, "alerts": 1, "permits": 1,
                                       "duplicate_pairs": 0, "conflicts_without_alert": 0}


def _pipe(code: str, lat: float) -> dict:
    return {"type": "Feature",
            "properties": {"id": code, "pressure_class": "high_b", "design_pressure_mpa": 2.0,
                           "outer_diameter_mm": 508},
            "geometry": {"type": "LineString", "coordinates": [[121.38, lat], [121.42, lat]]}}


def test_moving_a_pipeline_onto_sites_while_sites_are_registered_there(live_api, login,
                                                                       stored_network):
    office = login("gas_office")
    with httpx.Client(base_url=live_api, timeout=60) as client:
        pipe = client.post("/api/pipelines", json=_pipe("GP-MOVE", 31.665), headers=office)
        assert pipe.status_code == 201, pipe.text
        for i in range(3):  # registered before the race, away from the pipeline for now
            r = client.post("/api/projects", json=site_feature(f"CM-OLD-{i}", 121.385 + i * 0.01,
                                                               31.6499), headers=office)
            assert r.status_code == 201 and r.json()["conflicts"] == [], r.text
    pipe_id = pipe.json()["id"]
    calls = [lambda c: c.put(f"/api/pipelines/{pipe_id}", json=_pipe("GP-MOVE", 31.650),
                             headers=office)]
    calls += [
        (lambda c, i=i: c.post("/api/projects", headers=office,
                               json=site_feature(f"CM-NEW-{i}", 121.390 + i * 0.01, 31.6499)))
        for i in range(3)
    ]
    answers = run_together(calls, live_api)
    assert [r.status_code for r in answers] == [200, 201, 201, 201], [r.text for r in answers]
    counts = _counts(stored_network)
    assert counts["duplicate_pairs"] == 0 and counts["conflicts_without_alert"] == 0
    with stored_network.connect() as conn:
        alerts_per_conflict = conn.execute(text(
            "SELECT count(*) FROM alert GROUP BY conflict_id HAVING count(*) > 1")).all()
        # Every site now straddles the moved pipeline: each pair must have its open conflict,
        # whichever transaction committed first.
        in_conflict = conn.execute(text(
            "SELECT p.registration_code FROM pipeline_conflict c "
            "JOIN construction_project p ON p.id = c.project_id "
            "JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL AND g.external_code = 'GP-MOVE' ORDER BY 1")).scalars().all()
    assert alerts_per_conflict == []
    assert in_conflict == [f"CM-NEW-{i}" for i in range(3)] + [f"CM-OLD-{i}" for i in range(3)]
    assert counts["alerts"] == counts["conflicts"] == 6


def test_one_write_at_a_time_still_serves_a_burst_and_a_pipeline_move(single_writer_api, login,
                                                                     stored_network):
    """Queued creations hold no database lock while they wait, so a concurrent pipeline
    move (which does not queue) and the queue never wait on each other."""
    office = login("gas_office")
    with httpx.Client(base_url=single_writer_api, timeout=60) as client:
        pipe = client.post("/api/pipelines", json=_pipe("GP-QUEUE", 31.665), headers=office)
        assert pipe.status_code == 201, pipe.text
    pipe_id = pipe.json()["id"]
    calls = [lambda c: c.put(f"/api/pipelines/{pipe_id}", json=_pipe("GP-QUEUE", 31.650),
                             headers=office)]
    calls += [
        (lambda c, i=i: c.post("/api/projects", headers=office,
                               json=site_feature(f"CM-Q-{i:02d}", 121.385 + i * 0.002, 31.6499)))
        for i in range(8)
    ]
    answers = run_together(calls, single_writer_api)
    assert [r.status_code for r in answers] == [200] + [201] * 8, [r.text for r in answers]
    counts = _counts(stored_network)
    assert counts["projects"] == 8
    assert counts["duplicate_pairs"] == 0 and counts["conflicts_without_alert"] == 0
    with stored_network.connect() as conn:
        on_moved = conn.execute(text(
            "SELECT count(*) FROM pipeline_conflict c JOIN gas_pipeline g ON g.id = c.pipeline_id "
            "WHERE c.closed_at IS NULL AND g.external_code = 'GP-QUEUE'")).scalar_one()
    assert on_moved == 8  # every site straddles the moved pipeline, whoever committed first
