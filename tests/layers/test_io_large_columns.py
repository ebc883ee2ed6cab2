"""Long columns are parsed once per distinct value; problems still name the right row."""

from __future__ import annotations

import pytest

from layers.io import InputFileError, read_layer


def test_bad_value_in_a_long_repetitive_column_names_its_row(tmp_path):
    rows = ["id,name,kind,status,wkt"]
    for i in range(1, 1501):
        status = "在建" if i != 1234 else "半停工"
        lon = 121.40 + (i % 50) * 0.0005
        lat = 31.60 + (i // 50) * 0.0005
        ring = f"POLYGON(({lon} {lat},{lon + 0.0002} {lat},{lon + 0.0002} {lat + 0.0002},{lon} {lat}))"
        rows.append(f'P{i},项目{i},housing,{status},"{ring}"')
    path = tmp_path / "many.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read_layer(path, "projects")
    problems = err.value.problems
    assert [(p.row, p.feature_id, p.field) for p in problems] == [(1234, "P1234", "status")]
    assert "半停工" in problems[0].message


def test_long_repetitive_columns_parse_to_the_same_values(tmp_path):
    rows = ["id,pressure_mpa,diameter_mm,owner,status,wkt"]
    for i in range(1, 1201):
        mpa = (0.005, 0.3, 1.2, 2.0)[i % 4]
        rows.append(f"G{i},{mpa},DN{(110, 160, 323.9)[i % 3]},崇明燃气,{('在役', 'planned')[i % 2]},"
                    f'"LINESTRING({121.4 + i * 1e-5} 31.6, {121.4 + i * 1e-5} 31.601)"')
    path = tmp_path / "pipes.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    frame = read_layer(path, "pipelines").frame
    assert frame.loc[3, "pressure_class"] == "high_b"  # 2.0 MPa
    assert frame.loc[4, "pressure_class"] == "low"  # 0.005 MPa
    assert frame.loc[1, "pressure_class"] == "medium_a"  # 0.3 MPa
    assert frame.loc[3, "outer_diameter_mm"] == 110.0
    assert frame.loc[2, "status"] == "in_service" and frame.loc[1, "status"] == "planned"
    assert set(frame["owner"]) == {"崇明燃气"}
