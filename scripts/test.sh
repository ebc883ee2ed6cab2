#!/usr/bin/env bash
# Install and run the whole test suite against a real, throwaway PostGIS.
set -euo pipefail
cd "$(dirname "$0")/.."
GISAPP_WITH_BROWSER=1 bash scripts/setup.sh
# Under CI a skipped PostGIS test is a failure (see tests/conftest.py).
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
