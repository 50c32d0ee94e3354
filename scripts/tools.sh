#!/usr/bin/env bash
# Installs the project's pinned tools (moto server, cargo-lambda, SAM CLI,
# cfn-lint) into .tools/venv, once; re-runs only when the pins change.
# Prints the venv's bin directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.tools"
venv="$root/venv"
req="scripts/requirements-tools.txt"
stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing pinned tools into $venv (first run only)..." >&2
  rm -rf "$venv"
  mkdir -p "$root"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$stamp"
fi
echo "$venv/bin"
