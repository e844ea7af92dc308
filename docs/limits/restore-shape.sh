#!/usr/bin/env bash
# The server-side floor for restore's write shape, measured with psql on the backup bench's 1,000,000 rows:
# pg_dump's file loaded as it is (one COPY per table) and rewritten by batch.py into dba's shape (one
# transaction, 1,000-row COPY batches, each in its own savepoint). Quoted in docs/performance.md.
# Server: $DBA_LIMITS_URL (default the local one; it creates and drops databases lim_*).
set -euo pipefail
U=${DBA_LIMITS_URL:-postgresql://postgres@127.0.0.1:5432}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P="psql -X -q -v ON_ERROR_STOP=1"
T="CREATE TABLE authors (id bigserial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, name text NOT NULL, joined timestamptz NOT NULL, UNIQUE (user_id, slug));
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, author_id bigint NOT NULL REFERENCES authors (id), title text NOT NULL, score numeric(12, 4), tags text[], published boolean, UNIQUE (user_id, slug));
CREATE TABLE comments (id bigserial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, post_id bigint NOT NULL REFERENCES posts (id), body text NOT NULL, meta jsonb, created_at timestamptz NOT NULL, UNIQUE (user_id, slug));"
for d in lim_src lim_a lim_b lim_c; do $P -d $U/postgres -c "DROP DATABASE IF EXISTS $d"; $P -d $U/postgres -c "CREATE DATABASE $d"; $P -d $U/$d -c "$T"; done
$P -d $U/lim_src -c "INSERT INTO authors (user_id, slug, name, joined) SELECT 'u1', 'a' || g, 'Author ' || g, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 10000) g;
INSERT INTO posts (user_id, slug, author_id, title, score, tags, published) SELECT 'u1', 'p' || g, 1 + g % 10000, 'Post number ' || g, g / 7.0, ARRAY['x', 'y' || g % 10], g % 2 = 0 FROM generate_series(1, 90000) g;
INSERT INTO comments (user_id, slug, post_id, body, meta, created_at) SELECT 'u1', 'c' || g, 1 + g % 90000, repeat('comment text ', 3) || g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 7)), now() - g * interval '1 second' FROM generate_series(1, 900000) g;
"; $P -d $U/lim_src -c "VACUUM ANALYZE"
pg_dump --data-only -t authors -t posts -t comments -d $U/lim_src -f "$tmp/dump.sql"
python3 "$here/batch.py" 1000 < "$tmp/dump.sql" > "$tmp/batched.sql"
t() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(echo "$(date +%s.%N) - $s" | bc)"; }
echo "one COPY per table (psql -f dump): $(t $P -d $U/lim_a -f "$tmp/dump.sql") s"
echo "1000-row COPY batches in savepoints, one transaction: $(t $P -d $U/lim_b -f "$tmp/batched.sql") s"
echo "one COPY per table, again: $(t $P -d $U/lim_c -f "$tmp/dump.sql") s"
for d in lim_src lim_a lim_b lim_c; do $P -d $U/postgres -c "DROP DATABASE $d"; done
rm -f "$tmp/dump.sql" "$tmp/batched.sql"
