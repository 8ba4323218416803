#!/usr/bin/env bash
# The load benchmark with an older build side by side: builds the release binary of git
# revision REV (by default 07b341c, the last commit before the speed work: the build the speed
# issue's figures describe, 42 µs of CPU per callback on SQLite there) in a worktree of its own
# under target/baseline/, then runs tools/bench/load.sh with it as LOAD_BASELINE_BIN. The
# throughput table then has the older build's SQLite rows, and the ratios of this build's
# callbacks/s and CPU per callback to its, measured in the same minutes.
#
# Usage: tools/bench/against.sh [REV] [SCENARIO…]   (scenarios: throughput by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
rev="${1:-07b341c}"
shift || true
[ $# -gt 0 ] || set -- throughput
commit="$(git rev-parse --verify --quiet "$rev^{commit}")" || { echo "no commit $rev in this repository" >&2; exit 1; }
root="$PWD/target/baseline"
tree="$root/tree-$commit"
if [ ! -d "$tree" ]; then
    mkdir -p "$root"
    git worktree prune
    git worktree add --detach "$tree" "$commit" >/dev/null
fi
echo "building $rev ($commit) …" >&2
CARGO_TARGET_DIR="$root/target" cargo build --release --manifest-path "$tree/Cargo.toml" --bin wecom-callback >&2
LOAD_BASELINE_BIN="$root/target/release/wecom-callback" exec tools/bench/load.sh "$@"
