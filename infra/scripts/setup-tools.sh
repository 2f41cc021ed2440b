#!/usr/bin/env bash
# Installs the local tool venv (moto server, AWS SAM CLI, schemathesis) into .tools/ and, if available, a faster linker.
# Idempotent: a second run with everything present finishes in about a second.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
T="${TOOLS_DIR:-$ROOT/.tools}"
mkdir -p "$T"
if [ ! -x "$T/venv/bin/moto_server" ] || [ ! -x "$T/venv/bin/sam" ]; then
  echo "setup-tools: installing moto server and AWS SAM CLI into $T/venv" >&2
  python3 -m venv "$T/venv"
  # cfn-lint pinned too (aws-sam-cli allows a range): check_template.py lints the transformed template with it.
  "$T/venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5' 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0'
fi
# HubSpot's official Python client: the conformance test parses every sandbox answer with its
# generated models. Checked on its own so an existing venv gets it too.
if ! "$T/venv/bin/python" -c 'import hubspot' >/dev/null 2>&1; then
  echo "setup-tools: installing hubspot-api-client into $T/venv" >&2
  "$T/venv/bin/pip" install -q --disable-pip-version-check 'hubspot-api-client==12.0.0'
fi
# schemathesis checks the served OpenAPI document against the running server (console-tests.sh).
# Guarded on its own, so a venv made before it was added gets it too.
if [ ! -x "$T/venv/bin/schemathesis" ]; then
  echo "setup-tools: installing schemathesis into $T/venv" >&2
  "$T/venv/bin/pip" install -q --disable-pip-version-check 'schemathesis==4.32.5'
fi
# mold links the many test binaries much faster than ld.bfd on two cores; optional.
if ! command -v mold >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -qq mold >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq mold >/dev/null 2>&1; }) \
    || echo "setup-tools: mold not installed, using the default linker" >&2
fi
echo "$T"
