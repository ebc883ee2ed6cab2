#!/usr/bin/env bash
# Quick start: install, start the embedded PostGIS, load the sample Chongming data
# when the database is empty, and print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gisapp quickstart "$@"
