#!/usr/bin/env bash
# Dependency floors: install the LOWEST versions that pyproject.toml allows for the direct
# dependencies (uv --resolution lowest-direct; their own dependencies as new as allowed)
# into .venv-lowest, and run a fast subset of the tests on them. A floor the code does
# not run on fails here. Needs .venv (scripts/setup.sh installs uv there from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=.venv/bin/uv
LOW=.venv-lowest
# The same interpreter as .venv (Debian's Python when present, see setup.sh).
BASE_PY=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
echo "==> 依赖下限检查：在 $LOW 安装各直接依赖允许的最低版本"
"$UV" venv --quiet --allow-existing --python "$BASE_PY" "$LOW"
VIRTUAL_ENV="$PWD/$LOW" "$UV" pip install --quiet --resolution lowest-direct -e '.[test]'
# A fast subset that imports and exercises every direct dependency: rules and screening
# (shapely, pyproj, numpy), file input (geopandas, pyogrio, pandas), campaign tables
# (openpyxl), map pages (folium, branca, jinja2), the API and SSE on PostGIS (fastapi,
# starlette, sqlalchemy, geoalchemy2, alembic, psycopg2, argon2, httpx) and the monthly
# report (reportlab, matplotlib, pypdf), site plans and survey tables (ezdxf, xlrd's
# importer, openpyxl), plain GeoJSON (orjson) and the coordinate conversions.
exec "$LOW/bin/python" -m pytest -q -p no:cacheprovider \
  tests/spatial_rules tests/campaign \
  tests/layers/test_io_single.py tests/layers/test_io_roundtrip.py \
  tests/layers/test_io_site_plans.py tests/layers/test_io_coordinates.py \
  tests/layers/test_geojson_plain.py \
  tests/maps/test_maps_render.py tests/maps/test_same_words.py tests/maps/test_report_hostile_text.py \
  tests/api/test_api_projects.py tests/gisapp/test_outbox.py
