//! Queue adapters: SQS on moto (batching, attributes, DLQ after maxReceiveCount) and local.

use chrono::Utc;
use shared::domain::{Job, TenantId, Trigger};
use shared::queue::local::LocalQueue;
use shared::queue::sqs::SqsQueue;
use shared::queue::{decode_job, Queue};
use std::time::Duration;

pub async fn queue_with_dlq(client: &aws_sdk_sqs::Client, max_receive: u32) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq = client
        .create_queue()
        .queue_name(suites::unique("dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url.unwrap();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let q = client
        .create_queue()
        .queue_name(suites::unique("jobs"))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!("{{\"deadLetterTargetArn\":\"{dlq_arn}\",\"maxReceiveCount\":{max_receive}}}"),
        )
        .send()
        .await
        .unwrap();
    (q.queue_url.unwrap(), dlq_url)
}

pub async fn receive_all(
    client: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    loop {
        let r = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        let msgs = r.messages.unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in &msgs {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        out.extend(msgs);
    }
}

#[tokio::test]
async fn sqs_sends_batches_with_attributes_and_poison_reaches_dlq() {
    let config = suites::aws_config().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let (url, dlq) = queue_with_dlq(&client, 2).await;
    let q = SqsQueue::new(client.clone(), url.clone());
    let jobs: Vec<Job> = (0..23)
        .map(|i| {
            Job::full(
                TenantId::parse(&format!("tenant-{i}")).unwrap(),
                Trigger::RunNow,
                Utc::now(),
            )
        })
        .collect();
    q.send(&jobs, Duration::ZERO).await.unwrap();
    let got = receive_all(&client, &url).await;
    assert_eq!(got.len(), 23);
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| decode_job(m.body().unwrap()).unwrap().job_id)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let attrs = got[0].message_attributes.as_ref().unwrap();
    assert_eq!(attrs["job_kind"].string_value(), Some("full"));
    assert!(attrs["tenant_id"]
        .string_value()
        .unwrap()
        .starts_with("tenant-"));

    // A message received twice and never deleted lands in the DLQ.
    let poison = Job::full(
        TenantId::parse("poison").unwrap(),
        Trigger::RunNow,
        Utc::now(),
    );
    let (url2, dlq2) = queue_with_dlq(&client, 2).await;
    let _ = dlq;
    SqsQueue::new(client.clone(), url2.clone())
        .send(std::slice::from_ref(&poison), Duration::ZERO)
        .await
        .unwrap();
    for _ in 0..3 {
        client
            .receive_message()
            .queue_url(&url2)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let dead = receive_all(&client, &dlq2).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(decode_job(dead[0].body().unwrap()).unwrap(), poison);
}

#[tokio::test]
async fn local_queue_honours_delay() {
    let q = LocalQueue::new();
    let job = |t: &str| Job::full(TenantId::parse(t).unwrap(), Trigger::RunNow, Utc::now());
    q.send(&[job("now-1"), job("now-2")], Duration::ZERO)
        .await
        .unwrap();
    q.send(&[job("later")], Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(q.take_ready().len(), 2);
    assert_eq!(q.len(), 1);
    assert_eq!(q.take_all()[0].tenant_id.as_str(), "later");
    assert!(q.is_empty());
}
