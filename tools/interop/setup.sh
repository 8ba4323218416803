#!/usr/bin/env bash
# Install the reference implementations the interop tests compare against:
#   tools/interop/.venv         Python venv with wechatpy + cryptography, and standardwebhooks (the
#                               reference verifier of forwards), pinned in requirements.txt
#   tools/interop/node_modules  @wecom/crypto (pinned in package.json / package-lock.json)
#
# Idempotent and fast when nothing changed: a stamp records the hash of the pin files, and the
# work is skipped while the stamp matches and both installs are present. Concurrent runs are
# serialised with flock. Needs network access to PyPI and the npm registry on the first run.
#
# Usage: tools/interop/setup.sh            (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

exec 9>"$here/.setup.lock"
flock 9

python="${PYTHON:-python3}"
stamp="$here/.stamp-setup"
pins() { { cat requirements.txt package.json; cat package-lock.json 2>/dev/null || true; } | sha256sum | cut -d' ' -f1; }
want="$(pins)"

ready() {
    [[ -x .venv/bin/python ]] &&
        [[ -f node_modules/@wecom/crypto/package.json ]] &&
        [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]]
}

if ready; then
    exit 0
fi
rm -f "$stamp"

echo "interop setup: python venv ($("$python" --version 2>&1)) with $(tr '\n' ' ' < requirements.txt)" >&2
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -c 'import wechatpy.crypto, cryptography, standardwebhooks.webhooks' >/dev/null

echo "interop setup: npm $(npm --version) installing @wecom/crypto" >&2
if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
else
    npm install --no-audit --no-fund --loglevel=error >&2
fi
node -e 'import("@wecom/crypto").then(m => { if (typeof m.decrypt !== "function") process.exit(1) })'

# npm may have just written package-lock.json: stamp what is pinned now.
pins > "$stamp"
echo "interop setup: done" >&2
