#!/usr/bin/env bash
# Reruns every benchmark and rewrites BENCHMARKS.md. Builds release binaries (the harness and
# the five Lambda functions for init time) and the arm64 bootstraps for package sizes
# (infra/scripts/package.sh; BENCH_ARM64=0 skips them), then the many-tenants fleet (BENCH_FLEET
# tenants, default 1000), then the long fault suite
# (BENCH_FAULTS injected faults, default 1000; BENCH_KILLS kill -9s, default 50). Arguments go
# to the harness; without any, the full set runs (the three tenant sizes one after another, each
# measured alone, the naive baseline on 2 000 visitors):
#   infra/scripts/bench.sh --sizes 10000,100000,1000000 --baseline 2000
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
T="$("$ROOT/infra/scripts/setup-tools.sh" | tail -n 1)"
if [ "${BENCH_ARM64:-1}" = 1 ]; then
  # arm64 bootstraps as a deploy builds them (sam build per function) for the package sizes.
  "$ROOT/infra/scripts/package.sh" \
    || echo "bench: arm64 build failed; package sizes will say 'not built'" >&2
fi
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-fuse-ld=mold"
fi
cargo build --release -p suites --bin bench
# Host release builds of the functions, for init time against the harness's Runtime API emulator.
cargo build --release -p sync_scheduler -p sync_worker -p admin_api -p oauth_callback -p webhook_intake
# The suites below run on moto (DynamoDB, SQS, Secrets Manager) in debug builds, as the tests do.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
MOTO_ENDPOINT="$("$ROOT/infra/scripts/moto.sh" start)"
export MOTO_ENDPOINT
trap '"$ROOT/infra/scripts/moto.sh" stop' EXIT
# The converge property, longer than in the test suite (issue 15): rounds, edits, divergences
# (printed, and kept in target/converge.txt).
CONVERGE_ROUNDS="${CONVERGE_ROUNDS:-30}" CONVERGE_SEED="${CONVERGE_SEED:-15}" \
  cargo test -p suites --test main -- converge::randomised --nocapture 2>&1 \
  | grep -E '^converge:|test result' | tee "$ROOT/target/converge.txt"
if [ "$#" -eq 0 ]; then
  set -- --sizes 10000,100000,1000000 --baseline 2000
fi
"$ROOT/target/release/bench" "$@"
# Issue 20, many tenants: the scheduler's fan-out on moto (BENCH_FLEET_SCHEDULER tenant counts)
# and a fleet of BENCH_FLEET tenants (BENCH_FLEET_DEADLINE seconds cuts it and says so);
# rewrites only BENCHMARKS.md's "Many tenants" section.
"$ROOT/target/release/bench" --fleet "${BENCH_FLEET:-1000}" \
  --fleet-scheduler "${BENCH_FLEET_SCHEDULER:-1000,10000}" \
  ${BENCH_FLEET_DEADLINE:+--fleet-deadline-s "$BENCH_FLEET_DEADLINE"}

# The long fault suite (the test suite runs it short): >= 1000 injected faults and 50 kill -9s,
# figures into BENCHMARKS.md's "Fault suite" section.
cargo build -q -p local
FAULTS="${BENCH_FAULTS:-1000}" KILLS="${BENCH_KILLS:-50}"
rm -rf "$ROOT/target/fault-suite"
FAULT_SUITE_FAULTS="$FAULTS" FAULT_SUITE_KILLS="$KILLS" FAULT_SUITE_REPORT="$ROOT/target/fault-suite" \
  cargo test -q -p suites --test main -- fault_suite --nocapture
python3 "$ROOT/infra/scripts/fault_report.py" "$ROOT/target/fault-suite" "$ROOT/BENCHMARKS.md" \
  "BENCH_FAULTS=$FAULTS BENCH_KILLS=$KILLS infra/scripts/bench.sh (fault suite step)"
