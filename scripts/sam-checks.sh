#!/usr/bin/env bash
# The checks that keep template.yaml deployable, with the pinned tools
# (scripts/tools.sh): cfn-lint with the serverless rules, checkov (0 failed
# checks; each skip carries its reason in the template), then `sam build`
# for x86_64 (this machine's architecture), which compiles the release
# binaries with cargo-lambda into .aws-sam/build/<Function>/bootstrap.
# Prints the directory of the built artifacts on stdout (scripts/test.sh
# hands it to tests/template.rs as WARDEN_BOOTSTRAP_DIR). Nothing here calls
# AWS: cfn-lint and sam build work offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(scripts/tools.sh)"
export SAM_CLI_TELEMETRY=0
# A region for the tools' own bookkeeping; no AWS call is made.
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

step() { echo "== $1" >&2; }
secs() { echo $(( $(date +%s) - $1 ))s; }

t0=$(date +%s)
step "cfn-lint template.yaml (+ serverless rules)"
"$bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- template.yaml >&2
step "cfn-lint clean ($(secs "$t0"))"

t0=$(date +%s)
step "checkov template.yaml (independent scanner; exceptions are reviewed in the template)"
# --skip-download: no call to checkov's vendor API (this runs offline).
"$PWD/.tools/checkov/bin/checkov" --quiet --compact --skip-download \
  --framework cloudformation -f template.yaml >&2
step "checkov clean ($(secs "$t0"))"

t0=$(date +%s)
step "sam build (x86_64, release, cargo-lambda)"
# cargo-lambda comes from the venv; the build uses the shared target dir when
# CARGO_TARGET_DIR is set.
PATH="$bin:$PATH" "$bin/sam" build --parameter-overrides Architecture=x86_64 >&2
for f in AuditStreamFunction InstanceCleanupFunction FleetSweepFunction PortalSweepFunction; do
  b=".aws-sam/build/$f/bootstrap"
  [ -x "$b" ] || { echo "sam build left no $b" >&2; exit 1; }
  head -c 4 "$b" | grep -q "ELF" || { echo "$b is not an ELF binary" >&2; exit 1; }
  echo "   $f: $(stat -c %s "$b") bytes" >&2
done
step "sam build done ($(secs "$t0"))"
echo "$PWD/.aws-sam/build"
