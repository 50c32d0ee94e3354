#!/usr/bin/env bash
# audit-stream end to end against its floor (issue #15): builds the RELEASE
# audit-stream binary (the profile `sam build` ships: LTO, one codegen unit)
# and the release floor Lambda (functions/audit-stream/floor: parses the
# event and every record into serde_json::Value, nothing else), then runs
# functions/audit-stream/benches/e2e.rs, which starts each under its own
# local Lambda Runtime API and invokes both with the same generated batch,
# interleaved, for 100, 1,000 and 10,000 records: medians, their ratio and
# peak RSS. The harness itself is built with the dev profile (it only spawns
# processes and serves loopback HTTP). Figures only; nothing is asserted
# about time.
#
#   WARDEN_STREAM_BIN / WARDEN_FLOOR_BIN  measure other binaries (no build)
#   WARDEN_BASELINE_BIN  an older audit-stream binary in the same run (an
#                       absolute path: the bench runs in the package's directory)
#   WARDEN_BENCH_RUNS   timed invocations per size (default 15)
#   WARDEN_BENCH_SIZES  batch sizes (default 100,1000,10000)
#   WARDEN_BENCH_OUT    where the events and medians are written (default
#                       target/bench-stream), for the Python peer
#   WARDEN_BENCH_PYTHON=0  skip the Python peer (Powertools BatchProcessor,
#                       functions/audit-stream/benches/python_peer: its own
#                       pinned venv, .tools/powertools, installed on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${WARDEN_STREAM_BIN:-}" || -z "${WARDEN_FLOOR_BIN:-}" ]]; then
    cargo build --locked --release -p audit-stream --bin audit-stream -p stream-floor --bin stream-floor
fi
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL
export WARDEN_BENCH_OUT="${WARDEN_BENCH_OUT:-$PWD/target/bench-stream}"
rm -f "$WARDEN_BENCH_OUT"/kinesis-*.json "$WARDEN_BENCH_OUT"/medians.json
cargo bench --locked -p audit-stream --bench e2e --profile dev "$@"
if [[ "${WARDEN_BENCH_PYTHON:-1}" != 0 && -f "$WARDEN_BENCH_OUT/medians.json" ]]; then
    functions/audit-stream/benches/python_peer/run.sh "$WARDEN_BENCH_OUT" "${WARDEN_BENCH_RUNS:-15}"
fi
