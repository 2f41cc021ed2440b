//! The `Store` port: a small conditional key-value contract that both the DynamoDB adapter
//! (production) and the embedded SQLite adapter (local default) implement, and that the one
//! contract suite in `tests/` checks against both. Typed access lives in [`repo`], once.
//!
//! ## Key design (single table)
//! | pk | sk | holds |
//! |---|---|---|
//! | `TENANTS` | `<tenant>` | the tenant record (the scheduler pages this partition) |
//! | `T#<tenant>` | `CONFIG` | sync configuration |
//! | `T#<tenant>` | `LEASE` | the per-tenant lease (conditional on absence or expiry) |
//! | `T#<tenant>` | `OBJ#V#<visitor>` / `OBJ#A#<account>` | push state: HubSpot id, fingerprint, failure |
//! | `T#<tenant>` | `ACT#V#<visitor>` / `ACT#A#<account>` | compact 360-day activity history |
//! | `T#<tenant>` | `LNK#V#<contact>` / `LNK#A#<company>` | Pendo id a HubSpot record was last written for (drift and identity checks) |
//! | `T#<tenant>` | `PULL#V#<hs id>` / `PULL#A#<hs id>` | pull state: fingerprint written to Pendo |
//! | `T#<tenant>` | `CUR#<name>` | cursors and checkpoints |
//! | `T#<tenant>` | `SEGM#<segment>#V#<visitor>` | contact id of a segment member written to HubSpot |
//! | `T#<tenant>` | `RUN#<run id>` | run records (run ids sort by time; TTL 90 days) |
//! | `T#<tenant>` | `RERR#<run id>#<seq>` | per-record errors of a run (TTL 90 days) |
//! | `T#<tenant>` | `DEDUPE#<key>` | webhook and job dedupe markers (TTL) |
//!
//! Every item carries `version` (optimistic concurrency) and optionally `expires_at`
//! (epoch seconds; DynamoDB's TTL attribute). Reads treat an expired item as absent, because
//! DynamoDB deletes expired items lazily.

pub mod dynamo;
pub mod fenced;
pub mod overlay;
pub mod repo;
pub mod sqlite;

use async_trait::async_trait;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub version: u64,
    /// Epoch seconds after which the item is gone.
    pub expires_at: Option<i64>,
    /// JSON document.
    pub data: String,
}

/// What must hold for a write to happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No live item under the key.
    NotExists,
    /// The stored item has exactly this version.
    VersionIs(u64),
    /// No item, or the stored one expired before `now` (epoch seconds): how leases are taken over.
    NotExistsOrExpired {
        now: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque token for the next page; `None` at the end.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed for {pk}/{sk}")]
    ConditionFailed { pk: String, sk: String },
    #[error("corrupt item {pk}/{sk}: {reason}")]
    Corrupt {
        pk: String,
        sk: String,
        reason: String,
    },
    #[error("item {pk}/{sk} has unknown schema version {found}")]
    UnknownSchema { pk: String, sk: String, found: u64 },
    /// A write of a run that was told to stop (tenant deleted, lease lost): refused.
    #[error("write refused: {0}")]
    Fenced(crate::http::Stopped),
    #[error("store backend error during {operation}: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    pub fn backend(operation: &'static str, err: impl std::fmt::Display) -> Self {
        StoreError::Backend {
            operation,
            message: err.to_string(),
        }
    }
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, StoreError::ConditionFailed { .. })
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Reads many keys of one partition; missing keys are simply absent from the result.
    async fn get_many(&self, pk: &str, sks: &[String]) -> Result<Vec<Item>, StoreError>;
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    /// Unconditional bulk write (batched by the adapter).
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError>;
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError>;
    /// One page of a partition, keys starting with `prefix`, in key order (or reverse).
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError>;

    /// Deletes every item of a partition, page by page (never the whole partition in memory).
    async fn delete_partition(&self, pk: &str) -> Result<u64, StoreError> {
        let mut deleted = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self.query(pk, "", after.as_deref(), 500, false).await?;
            for item in &page.items {
                self.delete(&item.pk, &item.sk, Condition::Always).await?;
                deleted += 1;
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(deleted),
            }
        }
    }
}

pub(crate) fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn is_live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|e| e > now)
}
