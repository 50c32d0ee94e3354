#!/usr/bin/env bash
# Installs the project's pinned tools (moto server, cargo-lambda, SAM CLI,
# cfn-lint) into .tools/venv and checkov into .tools/checkov, once; re-runs
# only when the pins change.
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
# checkov in a venv of its own (its dependency pins differ from the SAM
# CLI's); sam-checks.sh finds it at .tools/checkov/bin/checkov.
ckv="$root/checkov"
ckv_req="scripts/requirements-checkov.txt"
ckv_stamp="$ckv/.installed-$(sha256sum "$ckv_req" | cut -c1-16)"
if [ ! -f "$ckv_stamp" ]; then
  echo "installing pinned checkov into $ckv (first run only)..." >&2
  rm -rf "$ckv"
  python3 -m venv "$ckv" >&2
  "$ckv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$ckv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ckv_req" >&2
  touch "$ckv_stamp"
fi
echo "$venv/bin"
