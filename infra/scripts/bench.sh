#!/usr/bin/env bash
# Reruns every benchmark and rewrites BENCHMARKS.md. Builds release binaries (the harness and
# the five Lambda functions for init time) and the arm64 bootstraps for package sizes
# (infra/scripts/package.sh; BENCH_ARM64=0 skips them). Arguments go to the harness, e.g.
#   infra/scripts/bench.sh --sizes 10000,100000 --baseline 250
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
# The converge property, longer than in the test suite (issue 15): rounds, edits, divergences.
CONVERGE_ROUNDS="${CONVERGE_ROUNDS:-30}" CONVERGE_SEED="${CONVERGE_SEED:-15}" \
  cargo test --release -p suites --test main -- converge::randomised --nocapture 2>&1 \
  | grep -E '^converge:|test result' | tee "$ROOT/target/converge.txt"
exec "$ROOT/target/release/bench" "$@"
