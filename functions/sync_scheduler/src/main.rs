//! EventBridge Scheduler (hourly) → fan-out of due sync jobs. Reads config, builds clients once,
//! and hands each event to `shared::scheduler`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::queue::sqs::SqsQueue;
use shared::scheduler::{handle_event, FanOutSummary, ScheduleEvent};
use shared::store::dynamo::DynamoStore;
use shared::store::repo::Repo;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_json();
    let config = shared::aws::sdk_config().await;
    let table = shared::aws::required_env("TABLE_NAME")?;
    let queue_url = shared::aws::required_env("JOB_QUEUE_URL")?;
    let repo = Repo::new(Arc::new(DynamoStore::new(
        shared::aws::DynamoClient::new(&config),
        table,
    )));
    let queue = SqsQueue::new(shared::aws::SqsClient::new(&config), queue_url);
    let (repo, queue) = (&repo, &queue);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ScheduleEvent>| async move {
            let summary: FanOutSummary = handle_event(repo, queue, event.payload).await?;
            Ok::<_, Error>(summary)
        },
    ))
    .await
}
