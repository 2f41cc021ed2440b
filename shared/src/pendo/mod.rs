//! The Pendo side: the `PendoApi` port, its reqwest adapter, and typed aggregation pipelines.

mod client;
mod metadata;
pub mod pipelines;
mod types;
pub mod webhook;

pub use client::{PendoClient, PendoConfig};
pub use metadata::METADATA_BATCH;
pub use types::*;

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

use crate::domain::{NpsConfig, ObjectKind};
use crate::http::CallCounter;

#[derive(Debug, thiserror::Error)]
pub enum PendoError {
    #[error("Pendo rejected the integration key (wrong key, revoked, or a key of another region)")]
    InvalidKey,
    #[error(
        "Pendo integration key has no write access; metadata writes need \"Allow Write Access\""
    )]
    NoWriteAccess,
    #[error("Pendo {operation} failed with {status}: {message}")]
    Api {
        operation: String,
        status: u16,
        message: String,
    },
    #[error("Pendo {operation} still failing after {attempts} attempts: {last}")]
    RetriesExhausted {
        operation: String,
        attempts: u32,
        last: String,
    },
    #[error("Pendo {operation}: cannot read response: {message}")]
    Decode { operation: String, message: String },
    #[error("Pendo custom field '{field}' on {kind}: {problem} (create it under Settings → Data Mappings)")]
    FieldConfig {
        kind: &'static str,
        field: String,
        problem: String,
    },
    #[error("Pendo is not connected for this tenant")]
    NotConnected,
    #[error(transparent)]
    Stopped(#[from] crate::http::Stopped),
}

impl PendoError {
    pub fn needs_attention(&self) -> bool {
        self.attention_kind().is_some()
    }

    /// The admin's remedy, for errors only an admin can fix.
    pub fn attention_kind(&self) -> Option<crate::domain::AttentionKind> {
        use crate::domain::AttentionKind as K;
        match self {
            PendoError::InvalidKey | PendoError::NotConnected => Some(K::PendoKeyInvalid),
            PendoError::NoWriteAccess => Some(K::PendoNoWriteAccess),
            PendoError::FieldConfig { .. } => Some(K::PendoFieldMissing),
            _ => None,
        }
    }
}

/// What the sync engine needs from Pendo.
#[async_trait]
pub trait PendoApi: Send + Sync {
    async fn verify_key(&self) -> Result<KeyCheck, PendoError>;
    /// Visitors in id order, strictly after `after`.
    async fn visitors_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PendoVisitor>, PendoError>;
    /// Just these visitors (a scoped sync), any number of ids; unknown ids are absent.
    async fn visitors_by_ids(&self, ids: &[String]) -> Result<Vec<PendoVisitor>, PendoError>;
    /// Just these accounts (a scoped sync); unknown ids are absent.
    async fn accounts_by_ids(
        &self,
        ids: &[String],
        domain_field: Option<&str>,
    ) -> Result<Vec<PendoAccount>, PendoError>;
    /// Accounts in id order, strictly after `after`; `domain_field` is read from agent/custom metadata.
    async fn accounts_page(
        &self,
        after: Option<&str>,
        limit: usize,
        domain_field: Option<&str>,
    ) -> Result<Vec<PendoAccount>, PendoError>;
    /// Per-day activity of visitors (or accounts) for days [first_day, first_day + days), in
    /// (id, day) order, ids strictly after `after`; a page never splits one id's rows.
    async fn daily_rollups(
        &self,
        kind: ObjectKind,
        first_day: i32,
        days: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DayRollup>, PendoError>;
    /// NPS answers in [first_day, first_day + days), score paired with its text follow-up, for
    /// visitors after `after` in id order (a page never splits one visitor's answers).
    async fn nps_responses(
        &self,
        nps: &NpsConfig,
        first_day: i32,
        days: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<NpsResponse>, PendoError>;
    async fn account_visitor_counts(&self) -> Result<HashMap<String, u64>, PendoError>;
    /// Custom metadata fields of `kind` with their Pendo types.
    async fn custom_fields(&self, kind: ObjectKind)
        -> Result<BTreeMap<String, String>, PendoError>;
    /// Sets custom metadata (≤500 rows per call; the client chunks). Failed and missing rows
    /// come back as failures: an HTTP 200 is not success.
    async fn write_custom(
        &self,
        kind: ObjectKind,
        rows: Vec<MetadataRow>,
    ) -> Result<MetadataOutcome, PendoError>;
    async fn segment_members(&self, segment_id: &str) -> Result<Vec<String>, PendoError>;
    /// Visitors who used a feature in [first_day, first_day + days), in id order after `after`.
    async fn feature_usage(
        &self,
        feature_id: &str,
        first_day: i32,
        days: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeatureUse>, PendoError>;
    /// (id, name) of every tagged feature.
    async fn features(&self) -> Result<Vec<(String, String)>, PendoError>;
    /// (id, name) of every segment.
    async fn segments(&self) -> Result<Vec<(String, String)>, PendoError>;
    /// (id, name) of every tagged page (`Page`), feature (`Feature`) or track type (`Track`).
    async fn event_catalog(
        &self,
        source: crate::domain::EventSource,
    ) -> Result<Vec<(String, String)>, PendoError>;
    /// Per-visitor per-day event counts of one page, feature or track type, in (visitor, day)
    /// order; a page never splits one visitor's rows.
    async fn event_counts(&self, q: &EventCountQuery<'_>) -> Result<Vec<EventCount>, PendoError>;
    fn calls(&self) -> &CallCounter;
}
