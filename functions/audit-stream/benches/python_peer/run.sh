#!/usr/bin/env bash
# The Python peer of scripts/bench-stream.sh (issue #15): installs the pinned
# Powertools (requirements.txt) into a venv of its own, once (re-installed
# when the pin changes), then times handler.py on the batches the e2e bench
# wrote to DIR and prints its medians beside audit-stream's.
#
#   run.sh DIR [RUNS]
#   WARDEN_PEER_VENV  the venv (default .tools/powertools; never on the test path)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
venv="${WARDEN_PEER_VENV:-$root/.tools/powertools}"
req="$here/requirements.txt"
stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing the pinned Powertools into $venv (first run only)..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$stamp"
fi
exec "$venv/bin/python" "$here/run.py" "$@"
