#!/usr/bin/env bash
# start|stop moto server on a free loopback port; `start` prints the endpoint and, with
# --provision, creates the table, queues and app secret that template.yaml declares.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
T="${TOOLS_DIR:-$ROOT/.tools}"
PIDFILE="$T/moto.pid"
case "${1:-}" in
  start)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # moto_server with SQS SendMessage's cost per queued message taken out (see the script).
    "$T/venv/bin/python" "$ROOT/infra/scripts/moto_server.py" -H 127.0.0.1 -p "$port" > "$T/moto.log" 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq 100); do
      curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
      sleep 0.2
    done
    curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null || { echo "moto did not start" >&2; cat "$T/moto.log" >&2; exit 1; }
    ep="http://127.0.0.1:$port"
    if [ "${2:-}" = "--provision" ]; then
      export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
      "$T/venv/bin/python" - "$ep" <<'PY'
import sys, json, boto3
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1")
ddb = boto3.client("dynamodb", **kw)
ddb.create_table(TableName="pendo-hubspot-sync", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
ddb.update_time_to_live(TableName="pendo-hubspot-sync", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
sqs = boto3.client("sqs", **kw)
dlq = sqs.create_queue(QueueName="pendo-hubspot-jobs-dlq")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sqs.create_queue(QueueName="pendo-hubspot-jobs", Attributes={"VisibilityTimeout": "5400",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})})
sm = boto3.client("secretsmanager", **kw)
sm.create_secret(Name="pendo-hubspot/app", SecretString=json.dumps({"hubspot_client_id": "local-client",
    "hubspot_client_secret": "local-secret", "state_signing_key": "local-state-key"}))
PY
    fi
    echo "$ep"
    ;;
  stop)
    [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null || true
    rm -f "$PIDFILE"
    ;;
  *) echo "usage: $0 start [--provision] | stop" >&2; exit 2 ;;
esac
