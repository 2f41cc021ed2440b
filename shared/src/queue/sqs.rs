//! SQS adapter: SendMessageBatch in groups of 10, tenant and kind as message attributes.

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use std::time::Duration;

use super::{encode_job, Queue, QueueError};
use crate::domain::{Job, JobKind};

pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("data_type is set")
}

fn kind_name(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Full { .. } => "full",
        JobKind::Incremental { .. } => "incremental",
        JobKind::HubSpotChanges { .. } => "hubspot_changes",
        JobKind::Continuation { .. } => "continuation",
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError> {
        let delay = delay.as_secs().min(900) as i32;
        let total = jobs.len();
        for chunk in jobs.chunks(10) {
            let entries: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, job)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(encode_job(job))
                        .delay_seconds(delay)
                        .message_attributes("tenant_id", attr(job.tenant_id.as_str()))
                        .message_attributes("job_kind", attr(kind_name(&job.kind)))
                        .message_attributes("job_id", attr(&job.job_id))
                        .build()
                        .expect("id and body are set")
                })
                .collect();
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Send {
                    failed: chunk.len(),
                    total,
                    message: DisplayErrorContext(e).to_string(),
                })?;
            if !out.failed.is_empty() {
                return Err(QueueError::Send {
                    failed: out.failed.len(),
                    total,
                    message: out
                        .failed
                        .iter()
                        .map(|f| format!("{}: {}", f.code, f.message.clone().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
        }
        Ok(())
    }
}
