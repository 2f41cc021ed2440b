#!/usr/bin/env bash
# Builds the five arm64 Lambda bootstraps the way a deploy does (`sam build`, BuildMethod
# rust-cargolambda) and reports each one's size, stripped and zipped, in a table and in
# target/lambda-sizes.json ({"<binary>": {"bytes": N, "zip_bytes": M}, ...}).
#
# Everything comes from package registries: cargo-lambda and zig from PyPI into .tools/venv,
# the aarch64 std via rustup. SAM CLI 1.170 needs no --beta-features for rust-cargolambda
# (only python-uv is still beta there; the AWS guide's opt-in note is older than that).
#
#   infra/scripts/package.sh               # install what is missing, sam build, sizes
#   infra/scripts/package.sh --tools-only  # install and print the tool versions, no build
#   infra/scripts/package.sh --sizes-only  # sizes of an existing .aws-sam/build, no build
#
# The build is a cold release build of five binaries (minutes on two cores); it shares the
# repo's target/ (CARGO_TARGET_DIR, default <repo>/target) with every other cargo command.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1
mode=build
case "${1:-}" in
  "") ;;
  --tools-only) mode=tools ;;
  --sizes-only) mode=sizes ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "package.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac

T="$("$ROOT/infra/scripts/setup-tools.sh" | tail -n 1)"
PY="$T/venv/bin/python"
if [ "$mode" != sizes ]; then
  if [ ! -x "$T/venv/bin/cargo-lambda" ] || [ ! -x "$T/venv/bin/python-zig" ]; then
    echo "package: installing cargo-lambda $CARGO_LAMBDA_VERSION and ziglang $ZIGLANG_VERSION into $T/venv" >&2
    "$T/venv/bin/pip" install -q --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
  fi
  if command -v rustup >/dev/null 2>&1 \
    && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "package: adding the aarch64-unknown-linux-gnu target" >&2
    rustup target add aarch64-unknown-linux-gnu
  fi
fi
export PATH="$T/venv/bin:$PATH"

if [ "$mode" = tools ]; then
  cargo lambda --version
  "$PY" -m ziglang version | sed 's/^/zig /'
  sam --version
  exit 0
fi

if [ "$mode" = build ]; then
  export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  start=$(date +%s)
  # RUSTFLAGS may carry a host-only linker flag (mold, see test.sh) that breaks the zig
  # cross-link, so the build runs without it, as bench.sh does.
  env -u RUSTFLAGS sam build --template-file template.yaml --build-dir .aws-sam/build
  echo "package: sam build took $(($(date +%s) - start))s" >&2
fi

"$PY" infra/scripts/lambda_sizes.py --template template.yaml --build-dir .aws-sam/build \
  --out "${CARGO_TARGET_DIR:-$ROOT/target}/lambda-sizes.json"
