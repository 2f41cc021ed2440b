//! Typed access to the store, written once for every adapter. Each record is a JSON envelope
//! `{"s": <schema>, "v": <value>}`; a record that does not decode is a typed error naming the key.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

mod lifecycle;
mod live;
mod privacy;
mod rules;
mod runs;
mod segments;
mod state;

pub use live::{
    ChangeEntry, DeletedRecord, LiveStatus, LoggedChange, PendingChange, PendingPendo, PendoChange,
    LIVE_CURSOR,
};

use super::{Condition, Item, Page, Store, StoreError};
use crate::domain::{
    ActivityHistory, ObjectKind, ObjectState, PullState, RecordError, RuleSet, RunId, RunRecord,
    SyncConfig, Tenant, TenantId,
};

const SCHEMA: u64 = 1;
const TENANTS_PK: &str = "TENANTS";
/// Run records and their errors are kept for 90 days.
pub const RUN_RETENTION_DAYS: i64 = 90;

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    s: u64,
    v: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    s: u64,
    v: T,
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(&EnvelopeOut {
        s: SCHEMA,
        v: value,
    })
    .expect("domain types serialise")
}

fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    #[derive(Deserialize)]
    struct SchemaOnly {
        s: u64,
    }
    let head: SchemaOnly = serde_json::from_str(&item.data).map_err(|e| StoreError::Corrupt {
        pk: item.pk.clone(),
        sk: item.sk.clone(),
        reason: e.to_string(),
    })?;
    if head.s != SCHEMA {
        return Err(StoreError::UnknownSchema {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            found: head.s,
        });
    }
    serde_json::from_str::<EnvelopeIn<T>>(&item.data)
        .map(|e| {
            debug_assert_eq!(e.s, SCHEMA);
            e.v
        })
        .map_err(|e| StoreError::Corrupt {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            reason: e.to_string(),
        })
}

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

fn item<T: Serialize>(
    pk: String,
    sk: String,
    version: u64,
    expires_at: Option<i64>,
    value: &T,
) -> Item {
    Item {
        pk,
        sk,
        version,
        expires_at,
        data: encode(value),
    }
}

/// An action's idempotency record: pending until the HubSpot call is known to have happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionState {
    pub hubspot_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionClaim {
    /// First attempt: go ahead.
    New,
    /// An earlier attempt claimed it and may or may not have reached HubSpot: reconcile first.
    Pending,
    /// Already done.
    Done(String),
}

/// A held per-tenant lease. Only the holder (same `owner` and `version`) can renew or release it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub tenant_id: TenantId,
    pub owner: String,
    pub expires_at: i64,
    pub version: u64,
}

#[derive(Clone)]
pub struct Repo {
    store: Arc<dyn Store>,
}

impl Repo {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    // ---- tenants -------------------------------------------------------------------------

    /// Creates a tenant; fails with `ConditionFailed` if the id is taken.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<Tenant, StoreError> {
        let mut t = tenant.clone();
        t.version = 1;
        self.store
            .put(
                item(TENANTS_PK.into(), t.id.to_string(), 1, None, &t),
                Condition::NotExists,
            )
            .await?;
        Ok(t)
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        match self.store.get(TENANTS_PK, id.as_str()).await? {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    /// Writes `tenant` if the stored version still equals `tenant.version`; returns the new version.
    pub async fn update_tenant(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<Tenant, StoreError> {
        let mut t = tenant.clone();
        t.version += 1;
        t.updated_at = now;
        self.store
            .put(
                item(TENANTS_PK.into(), t.id.to_string(), t.version, None, &t),
                Condition::VersionIs(tenant.version),
            )
            .await?;
        Ok(t)
    }

    pub async fn list_tenants(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Tenant>, StoreError> {
        let page = self
            .store
            .query(TENANTS_PK, "", after, limit, false)
            .await?;
        Ok(Page {
            items: page.items.iter().map(decode).collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    /// Removes the tenant and everything stored for it.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<u64, StoreError> {
        let n = self.store.delete_partition(&tenant_pk(id)).await?;
        self.store
            .delete(TENANTS_PK, id.as_str(), Condition::Always)
            .await?;
        Ok(n + 1)
    }

    // ---- configuration -------------------------------------------------------------------

    pub async fn get_config(&self, id: &TenantId) -> Result<Option<SyncConfig>, StoreError> {
        match self.store.get(&tenant_pk(id), "CONFIG").await? {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    pub async fn put_config(&self, id: &TenantId, config: &SyncConfig) -> Result<(), StoreError> {
        self.store
            .put(
                item(tenant_pk(id), "CONFIG".into(), 1, None, config),
                Condition::Always,
            )
            .await
    }

    // ---- lease ---------------------------------------------------------------------------

    /// Takes the tenant's lease if it is free or expired. `None` = someone else holds it.
    pub async fn acquire_lease(
        &self,
        id: &TenantId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let now = Utc::now().timestamp();
        let pk = tenant_pk(id);
        // A fresh, never-reused version per acquisition: a holder whose lease expired and was
        // taken over can then never renew or release the new holder's lease.
        let version = Utc::now().timestamp_micros() as u64;
        let lease = Lease {
            tenant_id: id.clone(),
            owner: owner.to_string(),
            expires_at: now + ttl.num_seconds(),
            version,
        };
        match self
            .store
            .put(
                item(pk, "LEASE".into(), version, Some(lease.expires_at), &lease),
                Condition::NotExistsOrExpired { now },
            )
            .await
        {
            Ok(()) => Ok(Some(lease)),
            Err(e) if e.is_condition_failed() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Extends a held lease; `false` if it was lost (expired and taken by another worker).
    pub async fn renew_lease(&self, lease: &mut Lease, ttl: Duration) -> Result<bool, StoreError> {
        let mut next = lease.clone();
        next.version += 1;
        next.expires_at = Utc::now().timestamp() + ttl.num_seconds();
        match self
            .store
            .put(
                item(
                    tenant_pk(&lease.tenant_id),
                    "LEASE".into(),
                    next.version,
                    Some(next.expires_at),
                    &next,
                ),
                Condition::VersionIs(lease.version),
            )
            .await
        {
            Ok(()) => {
                *lease = next;
                Ok(true)
            }
            Err(e) if e.is_condition_failed() => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        match self
            .store
            .delete(
                &tenant_pk(&lease.tenant_id),
                "LEASE",
                Condition::VersionIs(lease.version),
            )
            .await
        {
            Err(e) if e.is_condition_failed() => Ok(()),
            other => other,
        }
    }
}
