#!/usr/bin/env bash
# The main job: a real two-way sync of a demo tenant on the embedded SQLite store against the
# built-in HubSpot and Pendo sandboxes, with a report. Needs only cargo; extra arguments go to
# `pendo-hubspot demo` (e.g. --visitors 20000).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-fuse-ld=mold"
fi
exec cargo run --quiet -p local --bin pendo-hubspot -- demo "$@"
