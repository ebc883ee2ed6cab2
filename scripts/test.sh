#!/usr/bin/env bash
# Install and run the whole test suite against a real, throwaway PostGIS.
# First the type check (mypy, configured in pyproject.toml), then the dependency-floor
# check (scripts/test_lowest.sh: the lowest allowed versions in .venv-lowest, a fast
# subset of the tests; GISAPP_SKIP_FLOOR_CHECK=1 skips it for a quick local run), then
# the tests (arguments go to pytest). Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
GISAPP_WITH_BROWSER=1 GISAPP_WITH_QGIS="${GISAPP_WITH_QGIS:-1}" bash scripts/setup.sh
echo "==> 类型检查（mypy）"
.venv/bin/mypy
if [ "${GISAPP_SKIP_FLOOR_CHECK:-0}" != "1" ]; then
  bash scripts/test_lowest.sh
fi
echo "==> 测试"
# Under CI a skipped PostGIS test is a failure (see tests/conftest.py).
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
