#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the tests use are up on 127.0.0.1; start them when they are
# installed locally but stopped. Exits non-zero with a clear message when one cannot be reached.
set -u
pg_host=${PGHOST:-127.0.0.1}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0}

pg_up() { pg_isready -q -h "$pg_host" -p 5432 2>/dev/null || (exec 3<>/dev/tcp/"$pg_host"/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c5 <&3 | grep -q PONG) 2>/dev/null; }

if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  echo "== starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 20); do pg_up && break; sleep 0.5; done
fi
if ! redis_up && command -v redis-server >/dev/null; then
  echo "== starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 20); do redis_up && break; sleep 0.5; done
fi
pg_up || { echo "PostgreSQL is not reachable on $pg_host:5432 (see README: Running the tests)"; exit 1; }
redis_up || { echo "Redis is not reachable at $redis_url (see README: Running the tests)"; exit 1; }
echo "== PostgreSQL and Redis are up"
