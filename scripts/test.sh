#!/usr/bin/env bash
# The whole test suite. Installs what it needs itself (pinned, into the
# git-ignored .tools/ folder) and runs every test of every crate against
# loopback only: tests start the servers they need (emulator, moto, the local
# Lambda runtime API) on free loopback ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

WARDEN_TOOLS_BIN="$(scripts/tools.sh)"
export WARDEN_TOOLS_BIN
# Never let a test reach a real AWS endpoint or pick up a developer's profile.
export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL

# The deploy checks: cfn-lint (+ serverless rules) on template.yaml, then
# `sam build` (x86_64). tests/template.rs starts the built bootstraps.
WARDEN_BOOTSTRAP_DIR="$(scripts/sam-checks.sh)"
export WARDEN_BOOTSTRAP_DIR

cargo test --workspace --locked "$@"
