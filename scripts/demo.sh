#!/usr/bin/env bash
# The main job, locally, on embedded defaults: starts the emulator in-process
# with the demo fixture (events/emulator/demo-fixture.json) and runs the
# functions against it. Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --locked --quiet -p warden -- demo "$@"
