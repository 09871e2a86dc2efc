#!/usr/bin/env bash
# Set up and run DR Portal on the embedded default: SQLite, local private storage, demo users and
# sample images, and a grading worker (Celery over a local folder instead of Redis) beside the web
# server. Open http://127.0.0.1:8000 and sign in as nurse / drportal-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
export DJANGO_SETTINGS_MODULE=dr_portal.settings.local TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo

echo "== starting the grading worker (log: .queue/worker.log)"
mkdir -p .queue
.venv/bin/celery -A dr_portal worker --beat -Q grading --concurrency 1 --loglevel INFO \
  --schedule .queue/beat-schedule >.queue/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo "== DR Portal on http://127.0.0.1:${PORT:-8000}  (Ctrl-C stops it)"
.venv/bin/python manage.py runserver --noreload "127.0.0.1:${PORT:-8000}"
