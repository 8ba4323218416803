#!/usr/bin/env bash
# Instructions per callback through `wecom-callback serve` on SQLite (default config, info
# logging), counted by valgrind's callgrind: the figure that a busy machine cannot move. It is
# the difference between runs of 1,100 and 100 sequential callbacks, divided by 1,000, so start-up
# and shutdown cancel out. Needs valgrind (Debian: apt-get install valgrind).
#
# Usage: tools/bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
exec cargo bench --bench load -- instructions
