//! In-process queue for the local runner and tests: jobs wait until their delay passes.

use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Queue, QueueError};
use crate::domain::Job;

#[derive(Default)]
pub struct LocalQueue {
    jobs: Mutex<VecDeque<(Instant, Job)>>,
}

impl LocalQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every job whose delay has passed.
    pub fn take_ready(&self) -> Vec<Job> {
        let now = Instant::now();
        let mut q = self.jobs.lock().expect("queue lock");
        let (ready, waiting): (Vec<_>, Vec<_>) = q.drain(..).partition(|(at, _)| *at <= now);
        q.extend(waiting);
        ready.into_iter().map(|(_, j)| j).collect()
    }

    /// Takes every job, ignoring delays (tests that do not want to wait).
    pub fn take_all(&self) -> Vec<Job> {
        self.jobs
            .lock()
            .expect("queue lock")
            .drain(..)
            .map(|(_, j)| j)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().expect("queue lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError> {
        let at = Instant::now() + delay;
        self.jobs
            .lock()
            .expect("queue lock")
            .extend(jobs.iter().cloned().map(|j| (at, j)));
        Ok(())
    }
}
