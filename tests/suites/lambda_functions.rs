//! The five function binaries run as Lambda runs them: each real `functions/*` main under a
//! Lambda Runtime API emulator, fed the events AWS sends (API Gateway HTTP API payload 2.0 with
//! JWT authorizer claims, an SQS event source batch, the EventBridge Scheduler input of
//! `template.yaml`), with AWS on moto and HubSpot/Pendo on the sandboxes. Every AWS call each
//! function makes is recorded and checked against the IAM policies of the transformed template.

use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::DatasetConfig;
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use serde_json::{json, Value};
use shared::domain::TenantId;
use shared::queue::decode_job;
use shared::secret::SecretString;
use shared::secrets::AppSecret;
use std::path::PathBuf;
use suites::aws_recorder::{AwsCall, AwsRecorder};
use suites::lambda_runtime::{function_binary, LambdaFunction};

/// The API's domain as API Gateway reports it in `requestContext.domainName`.
const DOMAIN: &str = "r3pmxmplak.execute-api.us-east-1.amazonaws.com";
const STAGE: &str = "dev";

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("event fixture")).expect("json")
}

/// An HTTP API (payload 2.0) request as API Gateway sends it; `claims` = the JWT authorizer's
/// validated claims (absent on public routes and unauthenticated requests).
fn http_event(
    method: &str,
    path_and_query: &str,
    body: Option<Value>,
    claims: Option<Value>,
) -> Value {
    let mut e = fixture("apigw_v2_request.json");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), json!(v)))
        .collect();
    e["queryStringParameters"] = if params.is_empty() {
        Value::Null
    } else {
        Value::Object(params)
    };
    e["routeKey"] = json!(format!("{method} {path}"));
    e["requestContext"]["routeKey"] = e["routeKey"].clone();
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["requestContext"]["domainName"] = json!(DOMAIN);
    e["headers"]["host"] = json!(DOMAIN);
    e.as_object_mut().unwrap().remove("cookies");
    e.as_object_mut().unwrap().remove("pathParameters");
    match claims {
        Some(c) => e["requestContext"]["authorizer"]["jwt"]["claims"] = c,
        None => {
            e["requestContext"]
                .as_object_mut()
                .unwrap()
                .remove("authorizer");
        }
    }
    match body {
        Some(b) => {
            let text = b.to_string();
            e["body"] = json!(text);
            e["headers"]["content-type"] = json!("application/json");
            e["headers"]["content-length"] = json!(text.len().to_string());
        }
        None => {
            e.as_object_mut().unwrap().remove("body");
        }
    }
    e
}

fn claims(role: &str, tenant: Option<&str>) -> Value {
    let mut c = json!({"sub": "user-1", "iss": "https://auth.example.com/", "aud": "pendo-hubspot-admin",
                       "role": role, "exp": "1796069038", "iat": "1796065438"});
    if let Some(t) = tenant {
        c["tenant_id"] = json!(t);
    }
    c
}

/// API Gateway's answer as the client sees it: status and JSON body.
fn http_reply(v: &Value) -> (u16, Value) {
    let status = v["statusCode"].as_u64().expect("statusCode") as u16;
    let body = v["body"].as_str().unwrap_or("");
    let body = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
    (status, body)
}

/// The ScheduleV2 `Input` of template.yaml with Scheduler's context keywords replaced, i.e.
/// exactly what EventBridge Scheduler delivers to the function.
fn scheduler_input(at: &str) -> Value {
    let template =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .expect("template.yaml");
    let line = template
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Input:") && l.contains("aws.scheduler.scheduled-time"))
        .expect("the schedule's Input carries <aws.scheduler.scheduled-time>");
    let raw = line.trim_start_matches("Input:").trim().trim_matches('\'');
    let filled = raw
        .replace("<aws.scheduler.scheduled-time>", at)
        .replace(
            "<aws.scheduler.schedule-arn>",
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/sync-daily",
        )
        .replace("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3")
        .replace("<aws.scheduler.attempt-number>", "1");
    serde_json::from_str(&filled).expect("the schedule Input is JSON")
}

/// Messages on the queue, as the SQS event source hands them to the worker.
async fn sqs_event(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    arn: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut records = Vec::new();
    let template = fixture("sqs_event.json")["Records"][0].clone();
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            let mut r = template.clone();
            r["messageId"] = json!(m.message_id.unwrap_or_default());
            r["receiptHandle"] = json!(m.receipt_handle.unwrap_or_default());
            r["body"] = json!(m.body.unwrap_or_default());
            r["md5OfBody"] = json!(m.md5_of_body.unwrap_or_default());
            r["eventSourceARN"] = json!(arn);
            records.push(r);
        }
    }
    for (id, body) in extra {
        let mut r = template.clone();
        r["messageId"] = json!(id);
        r["body"] = json!(body);
        r["eventSourceARN"] = json!(arn);
        records.push(r);
    }
    json!({ "Records": records })
}

struct Aws {
    table: String,
    table_arn: String,
    queue_url: String,
    queue_arn: String,
    app_secret_arn: String,
    sqs: aws_sdk_sqs::Client,
}

/// The table, queue and app secret the template declares, created on moto.
async fn aws_resources(hubspot: &HubSpotSandbox) -> Aws {
    let config = suites::aws_config().await;
    let table = suites::unique("lambda");
    shared::store::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table.clone())
        .create_table()
        .await
        .expect("table");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue_url, _dlq) = crate::queue::queue_with_dlq(&sqs, 5).await;
    let queue_arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        queue_url.rsplit('/').next().unwrap()
    );
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let cfg = hubspot.with(|s| s.cfg.clone());
    let app = sm
        .create_secret()
        .name(format!("pendo-hubspot/{STAGE}/app-{}", suites::unique("s")))
        .secret_string(
            serde_json::to_string(&AppSecret {
                hubspot_client_id: cfg.client_id.clone(),
                hubspot_client_secret: SecretString::new(cfg.client_secret.clone()),
                state_signing_key: SecretString::new(uuid::Uuid::new_v4().to_string()),
            })
            .unwrap(),
        )
        .send()
        .await
        .expect("app secret");
    Aws {
        table_arn: format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}"),
        table,
        queue_url,
        queue_arn,
        app_secret_arn: app.arn.expect("arn"),
        sqs,
    }
}

/// Starts one function binary with the template's environment, its AWS calls recorded.
async fn start(
    logical_id: &str,
    binary: &str,
    aws: &Aws,
    extra_env: &[(&str, String)],
    logs: &std::path::Path,
) -> (LambdaFunction, AwsRecorder) {
    let recorder = AwsRecorder::start(logical_id, &suites::moto_endpoint()).await;
    let mut env: Vec<(String, String)> = vec![
        ("RUST_LOG".into(), "info".into()),
        ("TABLE_NAME".into(), aws.table.clone()),
        ("JOB_QUEUE_URL".into(), aws.queue_url.clone()),
        ("APP_SECRET_ID".into(), aws.app_secret_arn.clone()),
        (
            "TENANT_SECRET_PREFIX".into(),
            format!("pendo-hubspot/{STAGE}/"),
        ),
        ("AWS_ENDPOINT_URL".into(), recorder.endpoint().to_string()),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let f = LambdaFunction::start(binary, &function_binary(binary), &env, logs).await;
    (f, recorder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_runs_as_lambda_runs_it() {
    let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default())
        .await
        .unwrap();
    let pendo = PendoSandbox::start(PendoSandboxConfig {
        dataset: DatasetConfig {
            visitors: 60,
            accounts: 5,
            ..Default::default()
        },
        requests_per_second: 100,
    })
    .await
    .unwrap();
    hubspot.with(|s| {
        for v in 0..20usize {
            s.insert(
                "contacts",
                [("pendo_visitor_id".to_string(), format!("v{v:06}"))]
                    .into_iter()
                    .collect(),
            );
        }
    });
    let aws = aws_resources(&hubspot).await;
    let logs = tempfile::tempdir().unwrap();
    let sandboxes_env = [
        ("HUBSPOT_API_BASE", hubspot.base_url.clone()),
        (
            "HUBSPOT_AUTHORIZE_URL",
            format!("{}/oauth/authorize", hubspot.base_url),
        ),
        ("PENDO_API_BASE", pendo.base_url.clone()),
        // The template passes its PublicBaseUrl parameter, empty by default.
        ("PUBLIC_BASE_URL", String::new()),
    ];
    let (mut admin, admin_calls) = start(
        "AdminApiFunction",
        "admin_api",
        &aws,
        &sandboxes_env,
        logs.path(),
    )
    .await;
    let (mut callback, callback_calls) = start(
        "OAuthCallbackFunction",
        "oauth_callback",
        &aws,
        &sandboxes_env,
        logs.path(),
    )
    .await;
    let (mut intake, intake_calls) = start(
        "WebhookIntakeFunction",
        "webhook_intake",
        &aws,
        &sandboxes_env,
        logs.path(),
    )
    .await;
    let (mut scheduler, scheduler_calls) = start(
        "SyncSchedulerFunction",
        "sync_scheduler",
        &aws,
        &[],
        logs.path(),
    )
    .await;
    let (mut worker, worker_calls) = start(
        "SyncWorkerFunction",
        "sync_worker",
        &aws,
        &[
            ("HUBSPOT_API_BASE", hubspot.base_url.clone()),
            ("PENDO_API_BASE", pendo.base_url.clone()),
        ],
        logs.path(),
    )
    .await;

    let tenant = suites::unique("acme");
    let operator = claims("operator", None);
    let admin_claims = claims("admin", Some(&tenant));

    // No claims (the authorizer let nothing through that we trust) → 401.
    let (status, body) = http_reply(
        &admin
            .call(http_event("GET", "/v1/tenants", None, None))
            .await,
    );
    assert_eq!(status, 401, "{body}");
    assert!(body["code"].is_string(), "error body shape: {body}");

    // An operator creates the tenant.
    let (status, body) = http_reply(
        &admin
            .call(http_event(
                "POST",
                "/v1/tenants",
                Some(json!({"id": tenant, "display_name": "Acme", "pendo_region": "us"})),
                Some(operator.clone()),
            ))
            .await,
    );
    assert_eq!(status, 201, "{body}");

    // The tenant's admin saves a Pendo key (verified against Pendo).
    let key = format!("pendo-{}", uuid::Uuid::new_v4().simple());
    pendo.add_key(&key, "us", true);
    let (status, body) = http_reply(
        &admin
            .call(http_event(
                "PUT",
                &format!("/v1/tenants/{tenant}/pendo"),
                Some(json!({"region": "us", "integration_key": key})),
                Some(admin_claims.clone()),
            ))
            .await,
    );
    assert_eq!(status, 204, "{body}");

    // An admin of another tenant sees nothing of this one.
    let (status, _) = http_reply(
        &admin
            .call(http_event(
                "GET",
                &format!("/v1/tenants/{tenant}"),
                None,
                Some(claims("admin", Some("someone-else"))),
            ))
            .await,
    );
    assert_eq!(status, 404);

    // Connect HubSpot: the authorize URL's redirect URI is derived from the API's domain.
    let (status, body) = http_reply(
        &admin
            .call(http_event(
                "POST",
                &format!("/v1/tenants/{tenant}/hubspot/connect"),
                None,
                Some(admin_claims.clone()),
            ))
            .await,
    );
    assert_eq!(status, 200, "{body}");
    let authorize = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    let redirect_uri = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("redirect_uri");
    assert_eq!(redirect_uri, format!("https://{DOMAIN}/oauth/callback"));
    let consent = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize.as_str())
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(&redirect_uri), "{back}");

    // HubSpot sends the admin back through API Gateway to the callback function; the sandbox
    // refuses an exchange whose redirect_uri differs from the authorize request's.
    let path_and_query = format!("/oauth/callback?{}", back.query().unwrap());
    let (status, body) = http_reply(
        &callback
            .call(http_event("GET", &path_and_query, None, None))
            .await,
    );
    assert_eq!(
        status,
        200,
        "{body}\n{}\n{:?}",
        callback.log_tail(),
        hubspot.counts()
    );
    let (_, t) = http_reply(
        &admin
            .call(http_event(
                "GET",
                &format!("/v1/tenants/{tenant}"),
                None,
                Some(admin_claims.clone()),
            ))
            .await,
    );
    assert_eq!(t["hubspot_portal_id"], json!(4_242_424), "{t}");

    // Configure and enable: the immediate sync goes onto the queue.
    let (status, body) = http_reply(
        &admin
            .call(http_event(
                "PUT",
                &format!("/v1/tenants/{tenant}/config"),
                Some(json!({"pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]})),
                Some(admin_claims.clone()),
            ))
            .await,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_reply(
        &admin
            .call(http_event(
                "POST",
                &format!("/v1/tenants/{tenant}/enable"),
                None,
                Some(admin_claims.clone()),
            ))
            .await,
    );
    assert_eq!(status, 202, "{body}");

    // EventBridge Scheduler fires: the daily job for the enabled tenant joins it.
    let summary = scheduler
        .call(scheduler_input(&format!(
            "{}T23:05:00Z",
            chrono::Utc::now().date_naive()
        )))
        .await;
    assert_eq!(summary["enqueued"], json!(1), "{summary}");

    // The SQS event source hands both jobs and a poison message to the worker; only the
    // poison message comes back as a batch item failure, and HubSpot received the values.
    let event = sqs_event(
        &aws.sqs,
        &aws.queue_url,
        &aws.queue_arn,
        &[("poison-1", "{not a job")],
    )
    .await;
    let jobs: Vec<_> = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| decode_job(r["body"].as_str().unwrap()).ok())
        .collect();
    assert_eq!(jobs.len(), 2, "enable + daily: {event}");
    assert!(jobs
        .iter()
        .all(|j| j.tenant_id == TenantId::parse(&tenant).unwrap()));
    let writes_before = hubspot.count("POST /crm/v3/objects/contacts/batch/update");
    let reply = worker.call(event).await;
    assert_eq!(
        reply["batchItemFailures"],
        json!([{"itemIdentifier": "poison-1"}]),
        "{reply}\n{}",
        worker.log_tail()
    );
    assert!(
        hubspot.count("POST /crm/v3/objects/contacts/batch/update") > writes_before,
        "the worker wrote to HubSpot"
    );

    // A Pendo webhook through API Gateway: accepted, one job on the queue, nothing called inline.
    let (_, hook) = http_reply(
        &admin
            .call(http_event(
                "GET",
                &format!("/v1/tenants/{tenant}/webhook"),
                None,
                Some(admin_claims),
            ))
            .await,
    );
    let hook_url = url::Url::parse(hook["url"].as_str().unwrap()).unwrap();
    assert_eq!(hook_url.host_str(), Some(DOMAIN));
    let hubspot_calls = hubspot.counts().values().sum::<u64>();
    let (status, body) = http_reply(
        &intake
            .call(http_event(
                "POST",
                hook_url.path(),
                Some(json!({"event": "npsSubmitted", "uniqueId": "evt-lambda-1", "visitorId": "v000001",
                            "accountId": "a000001", "timestamp": 1_796_065_438_000_i64,
                            "properties": {"pollResponse": 3}})),
                None,
            ))
            .await,
    );
    assert!((200..300).contains(&status), "{status} {body}");
    assert_eq!(hubspot.counts().values().sum::<u64>(), hubspot_calls);
    assert!(body["job_id"].is_string(), "{body}");
    // The job waits out the coalescing minute on the queue (a delayed message).
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&aws.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attrs
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"), "{attrs:?}");

    // Every AWS call each function made is granted by its role in the transformed template.
    let mut calls: Vec<AwsCall> = Vec::new();
    for r in [
        &admin_calls,
        &callback_calls,
        &intake_calls,
        &scheduler_calls,
        &worker_calls,
    ] {
        calls.extend(r.calls());
    }
    for f in [
        "AdminApiFunction",
        "OAuthCallbackFunction",
        "WebhookIntakeFunction",
        "SyncSchedulerFunction",
        "SyncWorkerFunction",
    ] {
        assert!(
            calls.iter().any(|c| c.function == f),
            "{f} made no AWS call: {calls:?}"
        );
    }
    check_iam(&aws, &calls, logs.path());
}

/// Runs `infra/scripts/check_iam.py` on the calls; it transforms template.yaml with the SAM
/// translator and evaluates each call against the function's role policies.
fn check_iam(aws: &Aws, calls: &[AwsCall], dir: &std::path::Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let calls_file = dir.join("calls.json");
    std::fs::write(&calls_file, serde_json::to_vec_pretty(calls).unwrap()).unwrap();
    let out = std::process::Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("infra/scripts/check_iam.py"))
        .arg("--template")
        .arg(root.join("template.yaml"))
        .arg("--calls")
        .arg(&calls_file)
        .args(["--resource", &format!("Table={}", aws.table_arn)])
        .args(["--resource", &format!("JobQueue={}", aws.queue_arn)])
        .args(["--resource", &format!("AppSecret={}", aws.app_secret_arn)])
        .args(["--param", &format!("Stage={STAGE}")])
        .args(["--region", "us-east-1", "--account", "123456789012"])
        .output()
        .expect("run check_iam.py (infra/scripts/setup-tools.sh installs its venv)");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "IAM policies do not grant every call:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
