#!/usr/bin/env bash
# The one test command: installs what it needs, starts moto, runs every test, clippy, fmt and
# the SAM validation. `.ci/run` calls exactly this.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
start=$(date +%s)
T="$("$ROOT/infra/scripts/setup-tools.sh" | tail -n 1)"
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-fuse-ld=mold"
fi
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0 CARGO_TERM_COLOR=never
MOTO_ENDPOINT="$("$ROOT/infra/scripts/moto.sh" start)"
export MOTO_ENDPOINT
trap '"$ROOT/infra/scripts/moto.sh" stop' EXIT
echo "== moto at $MOTO_ENDPOINT"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== build the five Lambda binaries (the Lambda-shaped suite runs them under a Runtime API emulator) and pendo-hubspot (the kill -9 suite runs its sync)"
cargo build --locked -p sync_scheduler -p sync_worker -p admin_api -p oauth_callback -p webhook_intake -p local
echo "== cargo test --workspace"
cargo test --workspace --locked
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== console (headless chromium: wizard, keyboard, axe, screenshots) + schemathesis against serve --sandbox"
"$ROOT/infra/scripts/console-tests.sh"
echo "== openapi.json: the CLI writes the served document, and the committed copy is current"
cargo run --locked -q -p local --bin pendo-hubspot -- openapi > target/openapi.json
python3 -c 'import json,sys; d=json.load(open("target/openapi.json")); assert d["openapi"].startswith("3.1") and len(d["paths"]) > 20, d.get("openapi")'
cmp target/openapi.json shared/src/api/openapi.json \
  || { echo "shared/src/api/openapi.json is stale: cargo run -p local --bin pendo-hubspot -- openapi > shared/src/api/openapi.json" >&2; exit 1; }
echo "== sam validate"
"$T/venv/bin/sam" validate --region us-east-1
"$T/venv/bin/sam" validate --lint --region us-east-1
echo "== deployability: SAM transform graph (cycles, unresolved refs) + cfn-lint on the transformed template"
"$T/venv/bin/python" infra/scripts/check_template.py template.yaml
# The template before the cycle fix must still be caught, or the check has gone blind.
"$T/venv/bin/python" infra/scripts/check_template.py --expect-cycle infra/scripts/fixtures/template_with_cycle.yaml | tail -n 1
echo "== IAM coverage checker self-test"
"$T/venv/bin/python" infra/scripts/check_iam.py --self-test
echo "== all checks passed in $(( $(date +%s) - start ))s"
