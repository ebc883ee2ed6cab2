"""Project codes are unique per organisation (issue 12, migration 0017).

A builder must not learn whether another organisation uses a code: through creation,
import, update or any message, its answers depend on its own organisation's codes
only. The gas office sees both projects, told apart by organisation. Lookups by code
that are not scoped to one organisation (the command line) name the organisations.
"""

from __future__ import annotations

import json
import re

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from gisapp.cli.campaign_cmds import register
from layers.campaign_loaders import load_portfolio
from layers.db import session_factory
from layers.services.errors import InvalidRequestError
from tests.factories import site_feature

pytestmark = pytest.mark.postgis
LON, LAT = 121.40, 31.6299  # on HP-T1 of ``stored_network``


def _without(code: str, answer) -> tuple[int, str]:
    """A refusal with its code blanked, to compare answers about different codes."""
    body = answer.json() if answer.content else {}
    return answer.status_code, json.dumps(body, ensure_ascii=False).replace(code, "<code>")


def test_a_builder_cannot_tell_whether_another_organisation_uses_a_code(api, login, stored_network):
    a, b = login("builder", "甲公司"), login("builder", "乙公司")
    assert api.post("/api/projects", json=site_feature("CM-NS-1", LON, LAT), headers=a).status_code == 201
    # B creates A's code and a code nobody uses: both stored, the same answer.
    used = api.post("/api/projects", json=site_feature("CM-NS-1", LON + 0.001, LAT), headers=b)
    unused = api.post("/api/projects", json=site_feature("CM-NS-9", LON + 0.001, LAT), headers=b)
    assert used.status_code == unused.status_code == 201, used.text
    # B's own duplicates: refused alike, naming only B's own namespace.
    again_used = api.post("/api/projects", json=site_feature("CM-NS-1", LON, LAT), headers=b)
    again_unused = api.post("/api/projects", json=site_feature("CM-NS-9", LON, LAT), headers=b)
    assert again_used.status_code == 409 and "本单位" in again_used.json()["detail"]
    assert _without("CM-NS-1", again_used) == _without("CM-NS-9", again_unused)
    assert "甲公司" not in again_used.text
    # A code change on update is refused whether or not the target code is used elsewhere.
    pid = used.json()["id"]
    to_used = api.put(f"/api/projects/{pid}", json={"type": "Feature", "properties": {"id": "CM-NS-8"}},
                      headers=b)
    with stored_network.begin() as conn:  # make CM-NS-8 A's code, then ask again
        conn.execute(text("UPDATE construction_project SET registration_code = 'CM-NS-8' "
                          "WHERE registration_code = 'CM-NS-1' AND organisation = '甲公司'"))
    to_other = api.put(f"/api/projects/{pid}", json={"type": "Feature", "properties": {"id": "CM-NS-8"}},
                       headers=b)
    assert to_used.status_code == to_other.status_code == 422
    assert to_used.json() == to_other.json() and "编号不能修改" in to_used.json()["detail"]
    # Searching by code finds only one's own.
    listed = api.get("/api/projects", params={"q": "CM-NS"}, headers=b).json()
    assert sorted(f["properties"]["organisation"] for f in listed["features"]) == ["乙公司", "乙公司"]


def test_an_import_treats_another_organisations_codes_as_new(api, login, stored_network, tmp_path):
    a, b = login("builder", "甲公司"), login("builder", "乙公司")
    assert api.post("/api/projects", json=site_feature("CM-IMP-1", LON, LAT), headers=a).status_code == 201
    path = tmp_path / "sites.geojson"
    features = [site_feature("CM-IMP-1", LON + 0.002, LAT), site_feature("CM-IMP-2", LON + 0.003, LAT)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")

    def upload(headers, **form):
        with open(path, "rb") as fh:
            return api.post("/api/projects/import", headers=headers, data=form,
                            files={"file": (path.name, fh, "application/geo+json")})

    first = upload(b)
    assert first.status_code == 201, first.text
    again = upload(b)  # both codes are now B's own: both refused alike
    assert again.status_code in (409, 422)
    messages = {p["feature_id"]: p["message"] for p in again.json()["problems"]}
    assert messages["CM-IMP-1"] == messages["CM-IMP-2"] and "同一单位" in messages["CM-IMP-1"]
    assert "甲公司" not in again.text
    replaced = upload(b, replace="true")
    assert replaced.status_code == 201 and replaced.json()["replaced"] == 2
    with stored_network.connect() as conn:
        rows = conn.execute(text("SELECT organisation, count(*) FROM construction_project "
                                 "WHERE deleted_at IS NULL GROUP BY 1 ORDER BY 1")).all()
    assert [tuple(r) for r in rows] == [("乙公司", 2), ("甲公司", 1)]


def test_the_gas_office_sees_both_projects_told_apart_by_organisation(api, login, stored_network, tmp_path):
    a, b, office = login("builder", "甲公司"), login("builder", "乙公司"), login("gas_office")
    ids = {}
    for org, headers in (("甲公司", a), ("乙公司", b)):
        r = api.post("/api/projects", json=site_feature("CM-BOTH", LON, LAT), headers=headers)
        assert r.status_code == 201 and r.json()["conflicts"], r.text
        ids[org] = r.json()["id"]
    listed = api.get("/api/projects", params={"q": "CM-BOTH"}, headers=office).json()["features"]
    assert sorted((f["id"], f["properties"]["organisation"]) for f in listed) == sorted(
        (i, o) for o, i in ids.items())
    conflicts = api.get("/api/conflicts", headers=office).json()["conflicts"]
    assert sorted({c["project_feature_id"] for c in conflicts}) == sorted(ids.values())
    ogc = api.get("/ogc/collections/projects/items", params={"registration_code": "CM-BOTH"},
                  headers=office).json()
    assert sorted(f["properties"]["organisation"] for f in ogc["features"]) == ["乙公司", "甲公司"]
    mine = api.get("/ogc/collections/projects/items", params={"registration_code": "CM-BOTH"},
                   headers=a).json()
    assert [f["properties"]["organisation"] for f in mine["features"]] == ["甲公司"]
    # Each has its own answer letter, naming its own organisation.
    for org, pid in ids.items():
        answer = api.get(f"/api/projects/{pid}/answer", headers=office).json()
        assert answer["project"]["code"] == "CM-BOTH" and answer["project"]["organisation"] == org
    # Another organisation's project by id stays invisible to a builder.
    assert api.get(f"/api/projects/{ids['乙公司']}", headers=a).status_code == 404


def test_office_import_may_give_one_code_to_two_organisations_but_not_twice_to_one(api, login,
                                                                                  stored_network, tmp_path):
    office = login("gas_office")

    def upload(orgs: list[str]):
        feats = [site_feature("CM-OFF", LON + 0.001 * i, LAT, organisation=o) for i, o in enumerate(orgs)]
        path = tmp_path / "office.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
                        encoding="utf-8")
        with open(path, "rb") as fh:
            return api.post("/api/projects/import", headers=office,
                            files={"file": (path.name, fh, "application/geo+json")})

    twice = upload(["甲公司", "甲公司"])
    assert twice.status_code == 422 and "编号重复" in twice.text
    both = upload(["甲公司", "乙公司"])
    assert both.status_code == 201, both.text
    with stored_network.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM construction_project")).scalar() == 2


def test_command_line_lookups_by_a_shared_code_name_the_organisations(api, login, stored_network,
                                                                      database_url):
    a, b = login("builder", "甲公司"), login("builder", "乙公司")
    ids = {}
    for org, headers in (("甲公司", a), ("乙公司", b)):
        created = api.post("/api/projects", json=site_feature("CM-CLI", LON, LAT), headers=headers)
        ids[org] = created.json()["id"]
    app = typer.Typer()
    register(app)
    env = {"DATABASE_URL": database_url, "GISAPP_DATABASE_URL": database_url}

    def cli(*args):
        return CliRunner().invoke(app, ["campaign", "record", "--project", "CM-CLI", "--kind", "self",
                                        "--round", "1", "--date", "2026-11-02", *args], env=env)

    ambiguous = cli()  # the real entry point turns the domain error into a message and exit 2
    message = str(ambiguous.exception)
    assert isinstance(ambiguous.exception, InvalidRequestError), ambiguous.output
    assert "甲公司" in message and "乙公司" in message and "--project-organisation" in message
    done = cli("--project-organisation", "乙公司")
    assert done.exit_code == 0, done.output
    with stored_network.connect() as conn:
        assert conn.execute(text("SELECT project_id FROM inspection")).scalar_one() == ids["乙公司"]
    # The campaign tells the two apart, by organisation.
    with session_factory(stored_network).begin() as session:
        portfolio = load_portfolio(session, year=2026)
    keys = {k for k in portfolio.db_ids if k.startswith("CM-CLI")}
    assert keys == {"CM-CLI（甲公司）", "CM-CLI（乙公司）"}
    assert {portfolio.db_ids[k] for k in keys} == set(ids.values())
    assert all(re.fullmatch(r"CM-CLI（.+）", k) for k in keys)
