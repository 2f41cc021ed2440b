#!/usr/bin/env bash
# The console in a browser and the API against its own OpenAPI document, both against
# `pendo-hubspot serve --sandbox` started here on a free loopback port (stopped on exit):
#  1. tests/browser: headless Debian chromium driven by playwright-core (wizard end to end,
#     keyboard only, axe-core scan, screenshots at 375/1440 px into test-output/console/);
#  2. schemathesis: every operation of /v1/openapi.json, bounded examples, zero server errors
#     and zero status-code/content-type/response-schema non-conformance; once with random ids,
#     once on a connected tenant so the handlers past the 404 are reached.
# Installs what is missing: chromium (apt), the npm packages (npm ci, pinned by the lock file);
# schemathesis comes from setup-tools.sh. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
T="$("$ROOT/infra/scripts/setup-tools.sh" | tail -n 1)"
CARGO="${CARGO:-cargo}"
OUT="$ROOT/test-output"
mkdir -p "$OUT"

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian package)"
  if [ "$(id -u)" != 0 ]; then echo "console-tests: chromium missing and not root; apt-get install chromium" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  echo "== npm ci (tests/browser)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== build the local server"
"$CARGO" build --locked -q -p local
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/pendo-hubspot"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
DIR="$(mktemp -d)"
OP_TOKEN="op-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
# Tokens through the environment, not flags: flags show in `ps`.
LOCAL_OPERATOR_TOKEN="$OP_TOKEN" LOCAL_ADMIN_TOKENS="acme=acme-$OP_TOKEN" \
  "$BIN" serve --port "$PORT" --dir "$DIR/state" --sandbox --sandbox-visitors 200 --sandbox-accounts 20 >"$DIR/serve.log" 2>&1 &
SERVE_PID=$!
cleanup() { kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  grep -q '^serving on' "$DIR/serve.log" 2>/dev/null && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$DIR/serve.log" >&2; exit 1; }
  sleep 0.1
done
HUBSPOT_SANDBOX="$(grep -o 'HubSpot http://[0-9.:]*' "$DIR/serve.log" | cut -d' ' -f2)"
PENDO_SANDBOX="$(grep -o 'Pendo http://[0-9.:]*' "$DIR/serve.log" | cut -d' ' -f2)"
echo "== serve --sandbox at $BASE (HubSpot sandbox $HUBSPOT_SANDBOX, Pendo sandbox $PENDO_SANDBOX)"

# A second server whose console signs in with OpenID Connect against a minimal issuer that the
# browser suite runs on OIDC_PORT; it accepts the ID token that issuer hands out.
OIDC_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
PORT2="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
OIDC_ID_TOKEN="$(python3 -c 'import base64,json,time; b=lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("="); print(b({"alg":"none"})+"."+b({"sub":"oidc-operator","custom:role":"operator","exp":int(time.time())+3600})+".sig")')"
CONSOLE_OIDC_ISSUER="http://127.0.0.1:$OIDC_PORT" CONSOLE_OIDC_CLIENT_ID=console-test \
  LOCAL_OPERATOR_TOKEN="$OIDC_ID_TOKEN" LOCAL_ADMIN_TOKENS= \
  "$BIN" serve --port "$PORT2" --dir "$DIR/state2" >"$DIR/serve2.log" 2>&1 &
SERVE2_PID=$!
cleanup() { kill "$SERVE_PID" "$SERVE2_PID" 2>/dev/null || true; wait "$SERVE_PID" "$SERVE2_PID" 2>/dev/null || true; rm -rf "$DIR"; }
for _ in $(seq 1 100); do grep -q '^serving on' "$DIR/serve2.log" 2>/dev/null && break; sleep 0.1; done

echo "== browser suite (headless chromium)"
b0=$(date +%s)
(cd tests/browser && CONSOLE_BASE="$BASE" OP_TOKEN="$OP_TOKEN" HUBSPOT_SANDBOX="$HUBSPOT_SANDBOX" \
  PENDO_SANDBOX="$PENDO_SANDBOX" TEST_OUTPUT="$OUT" OIDC_BASE="http://127.0.0.1:$PORT2" \
  OIDC_ISSUER="http://127.0.0.1:$OIDC_PORT" OIDC_ID_TOKEN="$OIDC_ID_TOKEN" \
  node --test --test-concurrency=1 console.test.mjs)
echo "== browser suite took $(( $(date +%s) - b0 ))s; screenshots in test-output/console/"

echo "== schemathesis: every operation, random ids"
s0=$(date +%s)
ST=(--config-file tests/api-fuzz/schemathesis.toml run "$BASE/v1/openapi.json" --no-color)
ST_TOKEN="$OP_TOKEN" "$T/venv/bin/schemathesis" "${ST[@]}" --report-dir "$OUT/schemathesis" 2>&1 | tee "$OUT/schemathesis-random.log" | sed -n '/SUMMARY/,$p'

echo "== schemathesis: on a connected tenant (delete operations left out: they would end it)"
auth=(-H "authorization: Bearer $OP_TOKEN")
curl -fsS "${auth[@]}" -H 'content-type: application/json' -d '{"id":"fuzz-tenant","display_name":"Fuzz","pendo_region":"us"}' "$BASE/v1/tenants" >/dev/null
curl -fsS "${auth[@]}" -X PUT -H 'content-type: application/json' -d '{"region":"us","integration_key":"sandbox-key"}' "$BASE/v1/tenants/fuzz-tenant/pendo"
url="$(curl -fsS "${auth[@]}" -X POST "$BASE/v1/tenants/fuzz-tenant/hubspot/connect" | python3 -c 'import json,sys; print(json.load(sys.stdin)["authorize_url"])')"
curl -fsSL -o /dev/null "$url"   # the sandbox's consent page redirects to our callback
cat > "$DIR/connected.toml" <<TOML
$(cat tests/api-fuzz/schemathesis.toml)
[parameters]
"path.id" = "fuzz-tenant"
TOML
ST_TOKEN="$OP_TOKEN" "$T/venv/bin/schemathesis" --config-file "$DIR/connected.toml" run "$BASE/v1/openapi.json" --no-color \
  --exclude-method DELETE --report-dir "$OUT/schemathesis" 2>&1 | tee "$OUT/schemathesis-connected.log" | sed -n '/SUMMARY/,$p'
echo "== schemathesis took $(( $(date +%s) - s0 ))s"
