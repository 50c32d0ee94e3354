#!/usr/bin/env bash
# The whole test suite. Installs what it needs itself (into the git-ignored
# .tools/ folder) and runs every test of every crate against loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep the suite's own time reasonable on a 2-core machine: one build, tests
# of each binary run in parallel threads.
cargo test --workspace --locked "$@"
