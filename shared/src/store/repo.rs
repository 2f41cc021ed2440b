//! Typed access to the store, written once for every adapter. Each record is a JSON envelope
//! `{"s": <schema>, "v": <value>}`; a record that does not decode is a typed error naming the key.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

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

    // ---- per-object state ----------------------------------------------------------------

    async fn get_keyed<T: DeserializeOwned>(
        &self,
        id: &TenantId,
        prefix: &str,
        kind: ObjectKind,
        keys: &[String],
    ) -> Result<HashMap<String, T>, StoreError> {
        let head = format!("{prefix}#{}#", kind.code());
        let sks: Vec<String> = keys.iter().map(|k| format!("{head}{k}")).collect();
        let items = self.store.get_many(&tenant_pk(id), &sks).await?;
        items
            .iter()
            .map(|i| Ok((i.sk[head.len()..].to_string(), decode(i)?)))
            .collect()
    }

    async fn put_keyed<T: Serialize>(
        &self,
        id: &TenantId,
        prefix: &str,
        kind: ObjectKind,
        values: &[(String, T)],
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(id);
        let items = values
            .iter()
            .map(|(k, v)| {
                item(
                    pk.clone(),
                    format!("{prefix}#{}#{k}", kind.code()),
                    1,
                    None,
                    v,
                )
            })
            .collect();
        self.store.put_many(items).await
    }

    pub async fn get_object_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        object_ids: &[String],
    ) -> Result<HashMap<String, ObjectState>, StoreError> {
        self.get_keyed(id, "OBJ", kind, object_ids).await
    }

    pub async fn put_object_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        states: &[(String, ObjectState)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "OBJ", kind, states).await
    }

    pub async fn get_activity(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        object_ids: &[String],
    ) -> Result<HashMap<String, ActivityHistory>, StoreError> {
        self.get_keyed(id, "ACT", kind, object_ids).await
    }

    pub async fn put_activity(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        values: &[(String, ActivityHistory)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "ACT", kind, values).await
    }

    /// Pages through every stored activity history of one kind (for the daily fold-in).
    pub async fn list_activity(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<(String, ActivityHistory)>, StoreError> {
        let head = format!("ACT#{}#", kind.code());
        let page = self
            .store
            .query(&tenant_pk(id), &head, after, limit, false)
            .await?;
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|i| Ok((i.sk[head.len()..].to_string(), decode(i)?)))
                .collect::<Result<_, StoreError>>()?,
            next: page.next,
        })
    }

    pub async fn get_pull_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        hubspot_ids: &[String],
    ) -> Result<HashMap<String, PullState>, StoreError> {
        self.get_keyed(id, "PULL", kind, hubspot_ids).await
    }

    pub async fn put_pull_states(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        states: &[(String, PullState)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, "PULL", kind, states).await
    }

    // ---- cursors and checkpoints ---------------------------------------------------------

    pub async fn get_cursor<T: DeserializeOwned>(
        &self,
        id: &TenantId,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        match self
            .store
            .get(&tenant_pk(id), &format!("CUR#{name}"))
            .await?
        {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    pub async fn put_cursor<T: Serialize>(
        &self,
        id: &TenantId,
        name: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.store
            .put(
                item(tenant_pk(id), format!("CUR#{name}"), 1, None, value),
                Condition::Always,
            )
            .await
    }

    pub async fn delete_cursor(&self, id: &TenantId, name: &str) -> Result<(), StoreError> {
        self.store
            .delete(&tenant_pk(id), &format!("CUR#{name}"), Condition::Always)
            .await
    }

    // ---- runs ----------------------------------------------------------------------------

    fn run_expiry(run: &RunRecord) -> i64 {
        (run.started_at + Duration::days(RUN_RETENTION_DAYS)).timestamp()
    }

    pub async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.store
            .put(
                item(
                    tenant_pk(&run.tenant_id),
                    format!("RUN#{}", run.run_id),
                    1,
                    Some(Self::run_expiry(run)),
                    run,
                ),
                Condition::Always,
            )
            .await
    }

    pub async fn get_run(
        &self,
        id: &TenantId,
        run_id: &RunId,
    ) -> Result<Option<RunRecord>, StoreError> {
        match self
            .store
            .get(&tenant_pk(id), &format!("RUN#{run_id}"))
            .await?
        {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    /// Newest first.
    pub async fn list_runs(
        &self,
        id: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<RunRecord>, StoreError> {
        let page = self
            .store
            .query(&tenant_pk(id), "RUN#", after, limit, true)
            .await?;
        Ok(Page {
            items: page.items.iter().map(decode).collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    /// Appends per-record errors of a run, numbered from `first_seq`.
    pub async fn put_run_errors(
        &self,
        run: &RunRecord,
        first_seq: u64,
        errors: &[RecordError],
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(&run.tenant_id);
        let exp = Some(Self::run_expiry(run));
        let items = errors
            .iter()
            .enumerate()
            .map(|(i, e)| {
                item(
                    pk.clone(),
                    format!("RERR#{}#{:08}", run.run_id, first_seq + i as u64),
                    1,
                    exp,
                    e,
                )
            })
            .collect();
        self.store.put_many(items).await
    }

    pub async fn list_run_errors(
        &self,
        id: &TenantId,
        run_id: &RunId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<RecordError>, StoreError> {
        let page = self
            .store
            .query(
                &tenant_pk(id),
                &format!("RERR#{run_id}#"),
                after,
                limit,
                false,
            )
            .await?;
        Ok(Page {
            items: page.items.iter().map(decode).collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    // ---- lifecycle rules ---------------------------------------------------------------------

    pub async fn get_rules(&self, id: &TenantId) -> Result<RuleSet, StoreError> {
        match self.store.get(&tenant_pk(id), "RULES").await? {
            Some(i) => decode(&i),
            None => Ok(RuleSet::default()),
        }
    }

    pub async fn put_rules(&self, id: &TenantId, rules: &RuleSet) -> Result<(), StoreError> {
        self.store
            .put(
                item(tenant_pk(id), "RULES".into(), 1, None, rules),
                Condition::Always,
            )
            .await
    }

    /// Fingerprints of what a rule last wrote, per visitor.
    pub async fn get_rule_fingerprints(
        &self,
        id: &TenantId,
        rule: &str,
        visitors: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        self.get_keyed(id, &format!("RFP#{rule}"), ObjectKind::Visitor, visitors)
            .await
    }

    pub async fn put_rule_fingerprints(
        &self,
        id: &TenantId,
        rule: &str,
        values: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.put_keyed(id, &format!("RFP#{rule}"), ObjectKind::Visitor, values)
            .await
    }

    /// Every visitor a rule has written to (paged internally; ids only).
    pub async fn list_rule_fingerprint_ids(
        &self,
        id: &TenantId,
        rule: &str,
    ) -> Result<Vec<String>, StoreError> {
        let head = format!("RFP#{rule}#{}#", ObjectKind::Visitor.code());
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(&tenant_pk(id), &head, after.as_deref(), 1000, false)
                .await?;
            out.extend(page.items.iter().map(|i| i.sk[head.len()..].to_string()));
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Claims an action's idempotency key before the HubSpot call (conditional write).
    pub async fn claim_action(&self, id: &TenantId, key: &str) -> Result<ActionClaim, StoreError> {
        let pk = tenant_pk(id);
        let sk = format!("ACTION#{key}");
        let pending = ActionState { hubspot_id: None };
        match self
            .store
            .put(
                item(pk.clone(), sk.clone(), 1, None, &pending),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) => Ok(ActionClaim::New),
            Err(e) if e.is_condition_failed() => {
                let existing: ActionState = match self.store.get(&pk, &sk).await? {
                    Some(i) => decode(&i)?,
                    None => return Ok(ActionClaim::Pending),
                };
                Ok(match existing.hubspot_id {
                    Some(h) => ActionClaim::Done(h),
                    None => ActionClaim::Pending,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Marks a claimed action done, with the HubSpot record it created or changed.
    pub async fn complete_action(
        &self,
        id: &TenantId,
        key: &str,
        hubspot_id: &str,
    ) -> Result<(), StoreError> {
        let done = ActionState {
            hubspot_id: Some(hubspot_id.to_string()),
        };
        self.store
            .put(
                item(tenant_pk(id), format!("ACTION#{key}"), 2, None, &done),
                Condition::Always,
            )
            .await
    }

    // ---- dedupe --------------------------------------------------------------------------

    /// Records `key` once for `ttl`; `true` the first time, `false` for a duplicate.
    pub async fn mark_once(
        &self,
        id: &TenantId,
        key: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let expires = (Utc::now() + ttl).timestamp();
        match self
            .store
            .put(
                item(
                    tenant_pk(id),
                    format!("DEDUPE#{key}"),
                    1,
                    Some(expires),
                    &expires,
                ),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failed() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets a dedupe marker (when the work it guarded could not be handed off).
    pub async fn unmark(&self, id: &TenantId, key: &str) -> Result<(), StoreError> {
        self.store
            .delete(&tenant_pk(id), &format!("DEDUPE#{key}"), Condition::Always)
            .await
    }
}
