//! A recording proxy in front of moto: a function's `AWS_ENDPOINT_URL` points here, every AWS
//! call is forwarded unchanged and noted as (IAM action, resource ARN), so a test can prove the
//! template's IAM policies grant each call the function really made.
//!
//! The SDKs we use speak the JSON protocols (`X-Amz-Target: DynamoDB_20120810.PutItem`,
//! `AmazonSQS.SendMessageBatch`, `secretsmanager.GetSecretValue`); the query protocol
//! (`Action=…` form bodies) is understood too. IAM authorises the batch variants of SQS by
//! their single action (SQS developer guide, "Amazon SQS API permissions").

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use std::sync::{Arc, Mutex};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// One AWS call as IAM evaluates it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AwsCall {
    /// The SAM logical id of the function that made it.
    pub function: String,
    /// `service:Action`, e.g. `dynamodb:PutItem`.
    pub action: String,
    pub resource: String,
}

struct Recorder {
    function: String,
    upstream: String,
    http: reqwest::Client,
    calls: Mutex<Vec<AwsCall>>,
}

/// A running proxy; `endpoint()` is the URL to give the function.
#[derive(Clone)]
pub struct AwsRecorder {
    inner: Arc<Recorder>,
    endpoint: String,
}

impl AwsRecorder {
    pub async fn start(function: &str, upstream: &str) -> Self {
        let inner = Arc::new(Recorder {
            function: function.to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            calls: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let endpoint = serve_local(app).await;
        Self { inner, endpoint }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Distinct calls so far, sorted.
    pub fn calls(&self) -> Vec<AwsCall> {
        let mut c = self.inner.calls.lock().unwrap().clone();
        c.sort();
        c.dedup();
        c
    }
}

async fn forward(
    State(r): State<Arc<Recorder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    for (action, resource) in classify(&headers, &body) {
        r.calls.lock().unwrap().push(AwsCall {
            function: r.function.clone(),
            action,
            resource,
        });
    }
    relay(&r.http, &r.upstream, method, &uri, &headers, body).await
}

/// Serves `app` on a free local port, in the background; returns its base URL.
pub async fn serve_local(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    endpoint
}

/// Sends one request on to `upstream` as it came (bar `host` and `content-length`, which the
/// client sets again) and answers with what came back; a transport failure is a 502.
pub async fn relay(
    http: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = http.request(method, format!("{upstream}{path}")).body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut h = HeaderMap::new();
            for (k, v) in resp.headers() {
                if k != "content-length" && k != "transfer-encoding" {
                    h.insert(k, v.clone());
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, h, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// (IAM action, resource ARN) pairs of one request.
fn classify(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let (service, op) = match headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(t) => {
            let (prefix, op) = t.split_once('.').unwrap_or((t, ""));
            let service = match prefix {
                p if p.starts_with("DynamoDB") => "dynamodb",
                p if p.starts_with("AmazonSQS") => "sqs",
                p if p.eq_ignore_ascii_case("secretsmanager") => "secretsmanager",
                other => other,
            };
            (service.to_string(), op.to_string())
        }
        None => {
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(body).into_owned().collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            match get("Action") {
                Some(a) => {
                    let json = serde_json::json!({"QueueUrl": get("QueueUrl")});
                    return resources("sqs", &json)
                        .into_iter()
                        .map(|r| (format!("sqs:{}", iam_action("sqs", &a)), r))
                        .collect();
                }
                None => return vec![("unknown:Unknown".into(), "*".into())],
            }
        }
    };
    resources(&service, &json)
        .into_iter()
        .map(|r| (format!("{service}:{}", iam_action(&service, &op)), r))
        .collect()
}

fn iam_action(service: &str, op: &str) -> String {
    match (service, op) {
        ("sqs", "SendMessageBatch") => "SendMessage".into(),
        ("sqs", "DeleteMessageBatch") => "DeleteMessage".into(),
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility".into(),
        _ => op.to_string(),
    }
}

fn resources(service: &str, body: &serde_json::Value) -> Vec<String> {
    let table = |name: &str| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}");
    match service {
        "dynamodb" => match body.get("TableName").and_then(|t| t.as_str()) {
            Some(t) => vec![table(t)],
            None => body
                .get("RequestItems")
                .and_then(|r| r.as_object())
                .map(|m| m.keys().map(|t| table(t)).collect())
                .unwrap_or_else(|| vec!["*".into()]),
        },
        "sqs" => vec![body
            .get("QueueUrl")
            .and_then(|q| q.as_str())
            .and_then(|q| q.rsplit('/').next())
            .map(|name| format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
            .unwrap_or_else(|| "*".into())],
        "secretsmanager" => {
            let id = body
                .get("SecretId")
                .or_else(|| body.get("Name"))
                .and_then(|s| s.as_str())
                .unwrap_or("*");
            vec![secret_arn(id)]
        }
        _ => vec!["*".into()],
    }
}

/// Secrets Manager authorises on the secret's ARN, whose name ends in `-` and six random
/// characters; a call by name is mapped to such an ARN.
pub fn secret_arn(id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_string()
    } else {
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{id}-AbCdEf")
    }
}
