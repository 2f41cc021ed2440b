#!/usr/bin/env bash
# Reruns every benchmark and rewrites BENCHMARKS.md. Builds release binaries (the harness and
# the five Lambda functions for init time) and, when cargo-lambda is installed in .tools (see
# below), the arm64 bootstraps for package sizes. Arguments go to the harness, e.g.
#   infra/scripts/bench.sh --sizes 10000,100000 --baseline 250
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
T="$("$ROOT/infra/scripts/setup-tools.sh" | tail -n 1)"
if [ "${BENCH_ARM64:-1}" = 1 ]; then
  # Optional: arm64 bootstraps for package sizes (cargo-lambda + zig from PyPI, aarch64 std via rustup).
  if "$T/venv/bin/pip" install -q cargo-lambda==1.9.2 ziglang >/dev/null 2>&1 && rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    env -u RUSTFLAGS PATH="$T/venv/bin:$PATH" cargo lambda build --release --arm64 \
      -p sync_scheduler -p sync_worker -p admin_api -p oauth_callback -p webhook_intake \
      || echo "bench: arm64 build failed; package sizes will say 'not built'" >&2
  else
    echo "bench: cargo-lambda or the aarch64 target unavailable; package sizes will say 'not built'" >&2
  fi
fi
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-fuse-ld=mold"
fi
cargo build --release -p suites --bin bench
# Host release builds of the functions, for init time against the harness's Runtime API emulator.
cargo build --release -p sync_scheduler -p sync_worker -p admin_api -p oauth_callback -p webhook_intake
exec "$ROOT/target/release/bench" "$@"
