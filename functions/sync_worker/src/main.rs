//! SQS → per-tenant sync. Reads config, builds clients once, and hands each batch to
//! `shared::worker::Worker`, which reports per-message failures (ReportBatchItemFailures).

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::aws::{required_env, DynamoClient, SecretsManagerClient, SqsClient};
use shared::queue::sqs::SqsQueue;
use shared::secrets::aws::AwsSecrets;
use shared::store::dynamo::DynamoStore;
use shared::store::repo::Repo;
use shared::worker::{SecretConnectors, Worker};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_json();
    let config = shared::aws::sdk_config().await;
    let repo = Repo::new(Arc::new(DynamoStore::new(
        DynamoClient::new(&config),
        required_env("TABLE_NAME")?,
    )));
    let queue = Arc::new(SqsQueue::new(
        SqsClient::new(&config),
        required_env("JOB_QUEUE_URL")?,
    ));
    let secrets = Arc::new(AwsSecrets::new(
        SecretsManagerClient::new(&config),
        required_env("TENANT_SECRET_PREFIX")?,
        required_env("APP_SECRET_ID")?,
    ));
    let connectors = Arc::new(SecretConnectors::from_env(secrets));
    let mut worker = Worker::new(repo, queue, connectors);
    worker.reread = shared::sync::RereadPolicy::from_env()?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = deadline_instant(event.context.deadline);
        Ok::<_, Error>(worker.handle_sqs(event.payload, Some(deadline)).await)
    }))
    .await
}

/// The Lambda deadline (epoch ms) as an `Instant`.
fn deadline_instant(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
