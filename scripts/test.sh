#!/usr/bin/env bash
# Set up and run the whole test suite: lint, migrations check, unit, integration and browser tests.
# Needs PostgreSQL and Redis on 127.0.0.1 (started here when installed but stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
bash scripts/services.sh

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
    || echo "   could not install chromium: browser tests will be skipped"
fi

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (settings in pyproject.toml)"
.venv/bin/mypy
echo "== migrations are up to date"
DJANGO_SETTINGS_MODULE=dr_portal.settings.test DATABASE_URL=sqlite:///:memory: \
  .venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" "$@"
