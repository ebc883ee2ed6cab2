"""POST /api/{pipelines,projects}/import: a real district-scale file, all or nothing, screened."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from layers.sample import generate_sample
from layers.screen_files import screen_files
from spatial_rules.rulesets import load_rule_set

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    """The district-scale sample (seed 3) written as GeoJSON, with its feature counts."""
    out = tmp_path_factory.mktemp("sample")
    dataset = generate_sample(seed=3)
    paths = dataset.write(out, "geojson")
    return paths, len(dataset.pipelines), len(dataset.projects)


@pytest.fixture(scope="module")
def expected_pairs(sample_files):
    """The (project, pipeline) pairs the in-memory engine finds in the same two files."""
    paths = sample_files[0]
    screening = screen_files(paths["pipelines"], paths["projects"], load_rule_set("shanghai"))
    return {(r.site_id, r.pipeline_id) for r in screening.result.to_records()}


def _upload(api, kind, path, headers, **form):
    with open(path, "rb") as fh:
        return api.post(
            f"/api/{kind}/import",
            headers=headers,
            files={"file": (path.name, fh, "application/geo+json")},
            data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()},
        )


def _count(engine, sql):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def _open_pairs(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.registration_code, g.external_code FROM pipeline_conflict c "
                "JOIN construction_project p ON p.id = c.project_id "
                "JOIN gas_pipeline g ON g.id = c.pipeline_id WHERE c.closed_at IS NULL"
            )
        ).all()
    return {(r[0], r[1]) for r in rows}


def test_sample_pipelines_then_projects_are_stored_screened_and_alerted(
    api, login, db_engine, sample_files, expected_pairs
):
    paths, n_pipes, n_projects = sample_files
    office = login("gas_office")
    r = _upload(api, "pipelines", paths["pipelines"], office)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["layer"] == "pipelines" and report["imported"] == n_pipes
    assert report["replaced"] == 0 and report["new_conflicts"] == 0 and report["new_alerts"] == 0
    assert "4490" in report["source_crs"]
    assert _count(db_engine, "SELECT count(*) FROM gas_pipeline") == n_pipes
    # The low-zoom maps' merged mains were rebuilt in the import's own transaction.
    assert _count(db_engine, "SELECT count(*) FROM pipeline_overview_change") == 0
    assert _count(db_engine, "SELECT sum(segments) FROM pipeline_overview") == _count(
        db_engine, "SELECT count(*) FROM gas_pipeline WHERE pressure_class IN "
        "('subhigh_b', 'subhigh_a', 'high_b', 'high_a', 'ultra_high')") > 0

    r = _upload(api, "projects", paths["projects"], office)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["imported"] == n_projects
    assert expected_pairs, "the sample places projects near pipelines"
    assert report["new_conflicts"] == len(expected_pairs)
    assert report["new_alerts"] == len(expected_pairs)
    assert _open_pairs(db_engine) == expected_pairs
    assert _count(db_engine, "SELECT count(*) FROM alert") == len(expected_pairs)
    assert _count(db_engine, "SELECT count(*) FROM permit WHERE status = 'not_started'") == len(
        expected_pairs
    )
    with db_engine.connect() as conn:
        batches = conn.execute(
            text(
                "SELECT layer, source_name, feature_count, created_by FROM import_batch ORDER BY id"
            )
        ).all()
        audit = conn.execute(
            text("SELECT action, entity_id FROM audit_log WHERE action LIKE '%.import' ORDER BY id")
        ).all()
    assert [(b[0], b[1], b[2]) for b in batches] == [
        ("pipelines", "pipelines.geojson", n_pipes),
        ("projects", "projects.geojson", n_projects),
    ]
    assert batches[0][3].startswith("gas_office-")
    assert [a[0] for a in audit] == ["pipeline.import", "project.import"]
    assert audit[1][1] == str(report["batch_id"])
    # The office's alert inbox sees them at once.
    alerts = api.get("/api/alerts", params={"limit": 1000}, headers=office).json()["alerts"]
    assert len(alerts) == len(expected_pairs)


def test_same_file_again_is_refused_naming_the_codes_and_nothing_changes(
    api, login, db_engine, sample_files
):
    paths, n_pipes, _ = sample_files
    office = login("gas_office")
    assert _upload(api, "pipelines", paths["pipelines"], office).status_code == 201
    again = _upload(api, "pipelines", paths["pipelines"], office)
    assert again.status_code in (409, 422), again.text
    body = again.json()
    assert "编号已存在" in body["detail"] and "pipelines.geojson" in body["detail"]
    assert "replace=true" in body["detail"] and "--replace" not in body["detail"]
    assert len(body["problems"]) == n_pipes
    assert {p["field"] for p in body["problems"]} == {"external_code"}
    assert all(p["feature_id"] and p["row"] for p in body["problems"])
    assert _count(db_engine, "SELECT count(*) FROM gas_pipeline") == n_pipes
    assert _count(db_engine, "SELECT count(*) FROM import_batch") == 1


def test_replace_true_updates_in_place_and_keeps_conflicts_and_permits(
    api, login, db_engine, sample_files, expected_pairs
):
    paths, n_pipes, n_projects = sample_files
    office = login("gas_office")
    assert _upload(api, "pipelines", paths["pipelines"], office).status_code == 201
    assert _upload(api, "projects", paths["projects"], office).status_code == 201
    conflict_ids = _count(db_engine, "SELECT array_agg(id ORDER BY id) FROM pipeline_conflict")
    permit = api.get("/api/permits", headers=office).json()["permits"][0]
    applied = api.post(f"/api/permits/{permit['id']}/transitions", json={"to_status": "applied"},
                       headers=office)
    assert applied.status_code == 200, applied.text
    r = _upload(api, "projects", paths["projects"], office, replace=True)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["replaced"] == n_projects and report["imported"] == n_projects
    assert _count(db_engine, "SELECT count(*) FROM construction_project") == n_projects
    # Same rows, same conflicts: nothing closed, nothing new, no second alert,
    # and the procedure already under way keeps its state.
    assert _open_pairs(db_engine) == expected_pairs
    assert _count(db_engine, "SELECT array_agg(id ORDER BY id) FROM pipeline_conflict") == conflict_ids
    assert report["new_conflicts"] == 0 and report["new_alerts"] == 0
    assert api.get(f"/api/permits/{permit['id']}", headers=office).json()["status"] == "applied"
    assert _count(
        db_engine, "SELECT count(*) FROM audit_log WHERE action = 'project.replace'"
    ) == n_projects


def test_builder_import_forces_its_own_organisation(api, login, db_engine, sample_files):
    paths, _, n_projects = sample_files
    builder = login("builder", organisation="崇明测试建设有限公司")
    r = _upload(api, "projects", paths["projects"], builder)
    assert r.status_code == 201, r.text
    with db_engine.connect() as conn:
        orgs = (
            conn.execute(text("SELECT DISTINCT organisation FROM construction_project"))
            .scalars()
            .all()
        )
    assert orgs == ["崇明测试建设有限公司"]
    listed = api.get("/api/projects", params={"limit": 1000}, headers=builder).json()
    assert listed["numberMatched"] == n_projects


def test_builder_cannot_replace_another_organisations_projects_nor_import_pipelines(
    api, login, db_engine, sample_files
):
    """Codes are per organisation (0017): the same file imported by another builder, even
    with replace, makes that builder's own projects and leaves the first one's as they were."""
    paths, _, n_projects = sample_files
    owner = login("builder", organisation="甲单位")
    other = login("builder", organisation="乙单位")
    assert _upload(api, "projects", paths["projects"], owner).status_code == 201
    before = _count(db_engine, "SELECT array_agg(id ORDER BY id) FROM construction_project")
    audit = _count(db_engine, "SELECT count(*) FROM audit_log WHERE action = 'project.replace'")
    r = _upload(api, "projects", paths["projects"], other, replace=True)
    assert r.status_code == 201, r.text
    assert r.json()["replaced"] == 0 and "甲单位" not in r.text
    assert _count(db_engine, "SELECT count(*) FROM construction_project "
                             "WHERE organisation = '乙单位'") == n_projects
    assert _count(db_engine, "SELECT array_agg(id ORDER BY id) FROM construction_project "
                             "WHERE organisation = '甲单位'") == before
    assert _count(db_engine, "SELECT count(*) FROM audit_log WHERE action = 'project.replace'") == audit
    # A plain import of the same file by the first builder is refused for its own codes only.
    again = _upload(api, "projects", paths["projects"], owner)
    assert again.status_code in (409, 422) and "同一单位" in again.text
    assert "乙单位" not in again.text
    r = _upload(api, "pipelines", paths["pipelines"], owner)
    assert r.status_code == 403 and "builder" in r.json()["detail"]
    assert _count(db_engine, "SELECT count(*) FROM gas_pipeline") == 0
