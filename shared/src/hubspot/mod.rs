//! The HubSpot side: the `HubSpotApi` port, its reqwest adapter, OAuth, and schema setup.
//! Paths live in [`paths`] only: the date-versioned `2026-03` family by default, the legacy
//! `v3`/`v4` family per tenant ([`HubSpotConfig::api_version`]).

mod batch;
mod client;
mod error;
mod events;
mod lists;
pub mod oauth;
pub mod paths;
mod schema;
mod transport;
mod types;
pub mod webhook;

pub use client::{Auth, HubSpotClient, HubSpotConfig, PortalLimits, BATCH_LIMIT};
pub use error::{HubSpotError, OAuthFailure};
pub use events::{EventDefinition, EventDefinitionSpec, EventOccurrence, EVENT_BATCH_LIMIT};
pub use lists::{MembershipChange, LIST_MEMBERSHIP_CHUNK};
pub use paths::HubSpotApiVersion;
pub use schema::{pendo_property_specs, validate_value, SchemaReport};
pub use types::*;

use async_trait::async_trait;
use std::collections::BTreeMap;

use crate::domain::ObjectKind;
use crate::http::CallCounter;

/// What the sync engine needs from HubSpot.
#[async_trait]
pub trait HubSpotApi: Send + Sync {
    /// Makes sure the "Pendo" group, our properties and unique id property exist (idempotent).
    async fn ensure_schema(&self, kind: ObjectKind) -> Result<SchemaReport, HubSpotError>;
    /// Properties of an object type, by name (for validating a tenant's config).
    async fn list_properties(&self, kind: ObjectKind) -> Result<Vec<PropertyInfo>, HubSpotError>;
    /// batch/read by a unique property (or `email` for contacts); missing values are absent.
    async fn read_by(
        &self,
        kind: ObjectKind,
        id_property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError>;
    /// batch/read of any object type (tasks, deals) by record id.
    async fn read_records(
        &self,
        object: &str,
        ids: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError>;
    /// batch/update by record id (≤100 per call; the client chunks).
    async fn update(
        &self,
        kind: ObjectKind,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError>;
    /// batch/upsert on a unique-value property (creates missing records).
    async fn upsert(
        &self,
        kind: ObjectKind,
        id_property: &str,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError>;
    /// One page of records modified at/after `cursor.since_ms`, in id order after `cursor.after_id`.
    async fn search_modified(
        &self,
        kind: ObjectKind,
        cursor: &SearchCursor,
        properties: &[String],
    ) -> Result<SearchPage, HubSpotError>;
    /// Records whose `property` equals `value` (identity resolution, e.g. company domain).
    async fn search_eq(
        &self,
        kind: ObjectKind,
        property: &str,
        value: &str,
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError>;
    /// Records whose `property` equals one of `values` (several per search: up to 5 values,
    /// one filter group each, OR-ed; a multi-value property such as `hs_additional_emails`
    /// matches on any of its entries). At most 10 hits per value are read.
    async fn search_any(
        &self,
        kind: ObjectKind,
        property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError>;
    /// Creates one record (task, deal) with associations `(to id, association type id)`.
    /// Not retried after the request may have reached HubSpot: a retry could create a duplicate.
    async fn create_record(
        &self,
        object: &str,
        properties: BTreeMap<String, String>,
        associations: &[(String, u32)],
    ) -> Result<String, HubSpotError>;
    async fn update_record(
        &self,
        object: &str,
        id: &str,
        properties: BTreeMap<String, String>,
    ) -> Result<(), HubSpotError>;
    async fn deal_pipelines(&self) -> Result<Vec<Pipeline>, HubSpotError>;
    /// The portal's active owners, every page (500 per request). Needs the optional
    /// `crm.objects.owners.read` scope: without it HubSpot answers 403.
    async fn owners(&self) -> Result<Vec<Owner>, HubSpotError>;
    /// Ids of `to` records associated with one record.
    async fn associations(
        &self,
        from: &str,
        id: &str,
        to: &str,
    ) -> Result<Vec<String>, HubSpotError>;
    /// Custom event definitions of the portal (every page; §7b).
    async fn event_definitions(&self) -> Result<Vec<EventDefinition>, HubSpotError>;
    /// Creates one custom event definition on contacts; not repeated after a lost answer.
    async fn create_event_definition(
        &self,
        spec: &EventDefinitionSpec,
    ) -> Result<EventDefinition, HubSpotError>;
    /// Sends ≤ [`EVENT_BATCH_LIMIT`] occurrences in one call (HubSpot dedupes on `uuid`).
    async fn send_events(&self, batch: &[EventOccurrence]) -> Result<(), HubSpotError>;
    /// The id of the static contact list with this name, created (MANUAL) when missing.
    async fn find_or_create_list(&self, name: &str) -> Result<String, HubSpotError>;
    /// Adds and removes contact ids (one call per [`LIST_MEMBERSHIP_CHUNK`] of each).
    async fn change_list_members(
        &self,
        list_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<MembershipChange, HubSpotError>;
    fn calls(&self) -> &CallCounter;
}
