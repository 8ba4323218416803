#!/usr/bin/env bash
# PostgreSQL's own floor for intake's transaction on this machine: `pgbench` with one client
# sending what one intake batch sends — BEGIN, one 16-row `INSERT … ON CONFLICT DO NOTHING
# RETURNING id` of ~500-byte texts into the service's own `events` table, COMMIT — against a
# fresh database migrated by the service itself. Prints rows/s and, for a server on this machine,
# the database server's CPU per row; then the same without the dedup index and its conflict
# check. Compare with the PostgreSQL row of `cargo bench --bench load`.
#
# Usage: tools/bench/pg-floor.sh   (the server of DATABASE_URL; default the local one)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PGOPTIONS="-c client_min_messages=warning"
server="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${server%/*}"
db="wecom_pg_floor"
pgbench="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1 || true)"
[ -x "$pgbench" ] || { echo "pgbench is not installed (Debian: postgresql-contrib / postgresql-client)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is not installed" >&2; exit 1; }

work="$(mktemp -d)"
cleanup() { psql "$server" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
psql "$server" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null

cargo build --release --quiet
cat > "$work/config.toml" <<EOF
[store]
backend = "postgres"
url = "$base/$db"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "wx5823bf96d3bd56c7"
token = "QDG6eK"
encoding_aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
EOF
# Any command on the store creates and migrates its schema.
target/release/wecom-callback events --config "$work/config.toml" list >/dev/null

python3 - "$work/batch.sql" <<'EOF'
import sys
text = "x" * 470
rows = ",".join(
    f"('contacts', int8send(extract(epoch from now())::bigint) || "
    f"sha256(int8send(:seed::bigint * 100 + {i})), 'change_external_contact', "
    f"'external_userid-wm{i}', '{text}' || :seed, 1)"
    for i in range(16)
)
with open(sys.argv[1], "w") as f:
    f.write("\\set seed random(1, 1000000000)\nBEGIN;\n")
    f.write("INSERT INTO events (app, dedup_key, kind, order_key, plaintext, received_at) "
            f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING id;\nCOMMIT;\n")
EOF

# CPU (clock ticks) of every postgres process on this machine: 0 when the server is elsewhere.
server_ticks() {
    local total=0 pid
    for pid in $(pgrep -x postgres || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
rows() { psql "$base/$db" -Atc "SELECT count(*) FROM events"; }

measure() {
    "$pgbench" -n -c1 -T6 -M prepared -f "$work/batch.sql" "$base/$db" >"$work/pgbench.out" 2>&1 &
    local bench=$!
    sleep 1.5
    local t0 r0 t1 r1
    t0=$(server_ticks); r0=$(rows)
    sleep 3
    t1=$(server_ticks); r1=$(rows)
    wait "$bench" || { cat "$work/pgbench.out" >&2; exit 1; }
    local n=$((r1 - r0)) hz
    hz=$(getconf CLK_TCK)
    echo "$1: $((n / 3)) rows/s, database CPU $(( (t1 - t0) * 1000000 / hz / n )) µs per row"
}

measure "16-row INSERT … ON CONFLICT DO NOTHING RETURNING id (intake's)"
psql "$base/$db" -qc "ALTER TABLE events DROP CONSTRAINT events_dedup"
sed -i 's/ ON CONFLICT DO NOTHING RETURNING id;/;/' "$work/batch.sql"
measure "the same as a plain INSERT, without the dedup index"
