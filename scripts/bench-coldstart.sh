#!/usr/bin/env bash
# Binary sizes and cold start of the three functions: builds the release
# artifacts with `sam build` (scripts/sam-checks.sh; a no-op when they are
# fresh), then runs benches/coldstart.rs on them. The harness itself is
# built with the dev profile: it only spawns processes and serves loopback
# HTTP, and the bench profile's LTO would add minutes of compile time.
# Figures only; nothing is asserted about time.
set -euo pipefail
cd "$(dirname "$0")/.."
WARDEN_BOOTSTRAP_DIR="$(scripts/sam-checks.sh)"
WARDEN_TOOLS_BIN="$(scripts/tools.sh)"
export WARDEN_BOOTSTRAP_DIR WARDEN_TOOLS_BIN
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL
cargo bench --locked -p warden --bench coldstart --profile dev "$@"
