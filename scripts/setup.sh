#!/usr/bin/env bash
# Install everything gisapp needs on a Debian machine: PostgreSQL + PostGIS (Debian
# packages, when root), a virtualenv in .venv with the package and its test extras.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have_postgis() { compgen -G "/usr/share/postgresql/*/extension/postgis.control" >/dev/null; }
have_server() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_server || need_apt+=(postgresql)
have_postgis || need_apt+=(postgresql-15-postgis-3)
# Prefer Debian's own Python: a venv built on it can be run by any user (gisapp db up
# must work for unprivileged users too), unlike one on a Python under /root.
PY=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  PY=/usr/bin/python3
fi
"$PY" -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
# A CJK TrueType font that reportlab can embed in PDF reports.
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt+=(fonts-wqy-zenhei)
# The browser for the page tests (scripts/test.sh asks for it).
if [ "${GISAPP_WITH_BROWSER:-0}" = "1" ] && ! command -v chromium >/dev/null; then
  need_apt+=(chromium)
fi
# GDAL's command-line tools, the real OGC API Features client of the OGC tests.
if [ "${GISAPP_WITH_BROWSER:-0}" = "1" ] && ! command -v ogrinfo >/dev/null; then
  need_apt+=(gdal-bin)
fi
# QGIS (qgis_process and PyQGIS), the desktop client of tests/api/test_qgis.py and
# scripts/qgis_map.py: scripts/test.sh asks for it (GISAPP_WITH_QGIS=1). Debian 12's qgis
# is ~1.1 GB installed, 39 s to install here; GISAPP_WITH_QGIS=0 leaves it out locally.
if [ "${GISAPP_WITH_QGIS:-0}" = "1" ] && ! command -v qgis_process >/dev/null; then
  need_apt+=(qgis)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "==> 安装系统软件包：${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "缺少系统软件包：${need_apt[*]}。请以 root 执行：apt-get update && apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> 创建虚拟环境 .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.gisapp-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "==> 安装 Python 依赖（requirements.lock，逐个核对哈希）"
  # Exactly the locked versions, each file checked against its recorded hash; then
  # gisapp itself (editable) without resolving anything again.
  .venv/bin/python -m pip install -q --require-hashes --only-binary :all: -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  # A lock that lags behind pyproject.toml (a dependency added, not locked) fails here,
  # not later as an ImportError in the middle of a test run.
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; echo "requirements.lock 与 pyproject.toml 不一致：请按文件开头的命令重新生成" >&2; exit 1; }
  touch "$stamp"
fi
# Byte-compile gisapp's own modules: an editable install leaves them as source, and with
# PYTHONDONTWRITEBYTECODE (set in some shells and containers) every command then compiled
# its ~60 modules again (0.1 s of each ``gisapp screen``). A module edited later is
# compiled again in memory until the next setup run: nothing stale is ever used.
.venv/bin/python -m compileall -q -j 0 gisapp layers spatial_rules maps campaign vocabulary workbench >/dev/null
