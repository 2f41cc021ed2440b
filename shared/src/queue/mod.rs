//! The `Queue` port: where sync jobs go. SQS in AWS, an in-process queue locally.
//!
//! We use a *standard* SQS queue and our own dedupe (job ids recorded with a conditional write):
//! a FIFO queue's dedupe window is 5 minutes (a schedule retried later would double-enqueue) and
//! FIFO queues do not support per-message delays, which deferral and continuation jobs need.

pub mod local;
pub mod sqs;

use async_trait::async_trait;
use std::time::Duration;

use crate::domain::Job;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue send failed for {failed} of {total} jobs: {message}")]
    Send {
        failed: usize,
        total: usize,
        message: String,
    },
    #[error("queue message is not a job: {0}")]
    BadMessage(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends jobs (the adapter batches), each visible after `delay` (at most 15 minutes).
    async fn send(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError>;
}

pub fn encode_job(job: &Job) -> String {
    serde_json::to_string(job).expect("jobs serialise")
}

pub fn decode_job(body: &str) -> Result<Job, QueueError> {
    serde_json::from_str(body).map_err(|e| QueueError::BadMessage(e.to_string()))
}
