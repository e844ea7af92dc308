#!/usr/bin/env bash
# The server's ceiling for the 16-task select by key: pgbench (a C client, prepared statements) with 16
# connections running the bench's exact SQL on the bench's table.
set -euo pipefail
U=${DBA_LIMITS_URL:-postgresql://postgres@127.0.0.1:5432}
here=$(cd "$(dirname "$0")" && pwd)
P="psql -X -q -v ON_ERROR_STOP=1"
$P -d $U/postgres -c "DROP DATABASE IF EXISTS lim_sel" -c "CREATE DATABASE lim_sel"
$P -d $U/lim_sel -c "CREATE TABLE bench (id bigserial PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[], meta jsonb, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench (name, price, tags, meta) SELECT 'item ' || g, g % 1000, ARRAY['a', 'b'], jsonb_build_object('g', g) FROM generate_series(1, 10000) g;"; $P -d $U/lim_sel -c "VACUUM ANALYZE bench"
for j in 1 2; do
  pgbench -n -M prepared -c 16 -j $j -T 10 -f "$here/select.sql" "$U/lim_sel" 2>&1 | grep -E "^tps|number of threads"
done
$P -d $U/postgres -c "DROP DATABASE lim_sel"
