#!/usr/bin/env bash
# Set up and run DR Portal on the embedded default: SQLite, local private storage, demo users and
# sample images. Open http://127.0.0.1:8000 and sign in as nurse / drportal-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
export DJANGO_SETTINGS_MODULE=dr_portal.settings.local
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
echo "== DR Portal on http://127.0.0.1:${PORT:-8000}  (Ctrl-C stops it)"
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT:-8000}"
