//! Daily fan-out end to end on moto: DynamoDB tenants in, SQS jobs out, no duplicates on retry.

use chrono::{TimeZone, Utc};
use shared::domain::{PendoRegion, Tenant, TenantId, TenantStatus};
use shared::queue::decode_job;
use shared::queue::sqs::SqsQueue;
use shared::scheduler::{handle_event, ScheduleEvent};
use shared::store::dynamo::DynamoStore;
use shared::store::repo::Repo;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::queue::{queue_with_dlq, receive_all};

/// What EventBridge Scheduler delivers for the template's Input, context keywords replaced.
fn event(at: chrono::DateTime<Utc>) -> ScheduleEvent {
    serde_json::from_value(serde_json::json!({
        "scheduled_time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "schedule_arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/daily",
        "execution_id": "d32c5kddcf5bb8c3", "attempt_number": "1"
    }))
    .unwrap()
}

#[test]
fn an_eventbridge_rule_envelope_gives_its_time() {
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 23, 5, 0).unwrap();
    let e: ScheduleEvent = serde_json::from_value(serde_json::json!({
        "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-30T23:05:00Z", "region": "us-east-1",
        "resources": [], "detail": {}
    }))
    .unwrap();
    assert_eq!(e.scheduled_at(), at);
    assert_eq!(event(at).scheduled_at(), at);
}

#[tokio::test]
async fn fans_out_enabled_tenants_once_per_day() {
    let config = suites::aws_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        suites::unique("sched"),
    );
    store.create_table().await.unwrap();
    let repo = Repo::new(Arc::new(store));
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _dlq) = queue_with_dlq(&sqs, 3).await;
    let queue = SqsQueue::new(sqs.clone(), url.clone());

    let mut expected = BTreeSet::new();
    let (mut disabled, mut attention) = (0, 0);
    for i in 0..25 {
        let id = TenantId::parse(&format!("tenant-{i:02}")).unwrap();
        let mut t = Tenant::new(id.clone(), "T", PendoRegion::Eu, Utc::now()).unwrap();
        t.status = match i % 5 {
            0 => TenantStatus::Disabled,
            1 if i > 10 => TenantStatus::NeedsAttention,
            _ => TenantStatus::Enabled,
        };
        match t.status {
            TenantStatus::Enabled => {
                expected.insert(id.to_string());
            }
            TenantStatus::Disabled => disabled += 1,
            TenantStatus::NeedsAttention => attention += 1,
        }
        repo.create_tenant(&t).await.unwrap();
    }
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
    let summary = handle_event(&repo, &queue, event(at)).await.unwrap();
    assert_eq!(summary.scanned, 25);
    assert_eq!(summary.enqueued as usize, expected.len());
    assert_eq!(
        (summary.skipped_disabled, summary.skipped_needs_attention),
        (disabled, attention)
    );
    assert_eq!((disabled, attention), (5, 3));

    let msgs = receive_all(&sqs, &url).await;
    let jobs: Vec<_> = msgs
        .iter()
        .map(|m| decode_job(m.body().unwrap()).unwrap())
        .collect();
    let got: BTreeSet<String> = jobs.iter().map(|j| j.tenant_id.to_string()).collect();
    assert_eq!(got, expected);
    assert_eq!(jobs.len(), expected.len(), "one job per tenant");
    assert!(jobs.iter().all(|j| j.job_id.ends_with("-20261130")));

    // The same schedule delivered again (a retry, even hours later): nothing new.
    let again = handle_event(&repo, &queue, event(at)).await.unwrap();
    assert_eq!(again.enqueued, 0);
    assert_eq!(again.already_enqueued as usize, expected.len());
    assert!(receive_all(&sqs, &url).await.is_empty());

    // The next day is a new job.
    let next = handle_event(&repo, &queue, event(at + chrono::Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(next.enqueued as usize, expected.len());
}
