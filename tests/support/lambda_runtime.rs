//! Runs a real function binary the way Lambda runs it: the process is started with
//! `AWS_LAMBDA_RUNTIME_API` pointing at an emulator of the Lambda Runtime API
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>), long-polls
//! `GET /2018-06-01/runtime/invocation/next` for each event and answers with
//! `POST …/invocation/{id}/response` or `…/error` (or `/runtime/init/error` when it cannot start).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the function answered for one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(serde_json::Value),
    /// The runtime's error document (`errorType`, `errorMessage`).
    Error(serde_json::Value),
}

struct Pending {
    event: serde_json::Value,
    reply: oneshot::Sender<Outcome>,
}

struct Emulator {
    next: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    function_name: String,
}

/// One function process under the emulator. Dropping it kills the process.
pub struct LambdaFunction {
    name: String,
    send: mpsc::Sender<Pending>,
    emulator: Arc<Emulator>,
    child: tokio::process::Child,
    log: PathBuf,
}

/// The function binaries: `LAMBDA_BIN_DIR`, else the workspace target dir's debug build
/// (`cargo build -p <function>` puts them there; the test script does).
pub fn function_binary(name: &str) -> PathBuf {
    let dir = std::env::var("LAMBDA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
                .join("debug")
        });
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the functions first (cargo build -p {name}; infra/scripts/test.sh does)",
        bin.display()
    );
    bin
}

impl LambdaFunction {
    /// Starts `binary` with Lambda's reserved environment plus `env`; its stdout and stderr
    /// (the JSON logs) go to `log_dir/<name>.log`.
    pub async fn start(
        name: &str,
        binary: &FsPath,
        env: &[(String, String)],
        log_dir: &FsPath,
    ) -> Self {
        let (send, recv) = mpsc::channel(16);
        let emulator = Arc::new(Emulator {
            next: tokio::sync::Mutex::new(recv),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            function_name: name.to_string(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(emulator.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/30/[$LATEST]0123456789abcdef",
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test-session")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Self {
            name: name.to_string(),
            send,
            emulator,
            child,
            log,
        }
    }

    /// Invokes the function with `event` and waits for its answer (at most two minutes).
    pub async fn invoke(&mut self, event: serde_json::Value) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.send
            .send(Pending { event, reply })
            .await
            .expect("emulator alive");
        let outcome = tokio::select! {
            a = answer => a.ok(),
            _ = tokio::time::sleep(Duration::from_secs(120)) => None,
            status = self.child.wait() => panic!(
                "{} exited ({status:?}) before answering; init error: {:?}\n{}",
                self.name, self.emulator.init_error.lock().unwrap(), self.log_tail()
            ),
        };
        outcome.unwrap_or_else(|| panic!("{} did not answer\n{}", self.name, self.log_tail()))
    }

    /// Invokes and expects a response (not an error).
    pub async fn call(&mut self, event: serde_json::Value) -> serde_json::Value {
        match self.invoke(event).await {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("{} failed: {e}\n{}", self.name, self.log_tail()),
        }
    }

    /// The last lines the function logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Everything the function logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn next(State(e): State<Arc<Emulator>>) -> Response {
    let Some(p) = e.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    e.waiting.lock().unwrap().insert(id.clone(), p.reply);
    let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            e.function_name
        )
        .parse()
        .unwrap(),
    );
    h.insert(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            .parse()
            .unwrap(),
    );
    h.insert("content-type", "application/json".parse().unwrap());
    (h, p.event.to_string()).into_response()
}

fn settle(e: &Emulator, id: &str, outcome: Outcome) -> StatusCode {
    match e.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(
    State(e): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&e, &id, Outcome::Response(json_or_text(&body)))
}

async fn fail(State(e): State<Arc<Emulator>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    settle(&e, &id, Outcome::Error(json_or_text(&body)))
}

async fn init_error(State(e): State<Arc<Emulator>>, body: Bytes) -> StatusCode {
    *e.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
