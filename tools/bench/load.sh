#!/usr/bin/env bash
# The load benchmark with its generator: installs wrk when it is missing (Debian package), then
# runs `cargo bench --bench load` with any scenarios given (throughput, steady, flood, welcome,
# instructions; all by default).
#
# Usage: tools/bench/load.sh [SCENARIO…]
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package) …" >&2
    apt-get install -y wrk >/dev/null || { echo "cannot install wrk; install it and run again" >&2; exit 1; }
fi
exec cargo bench --bench load -- "$@"
