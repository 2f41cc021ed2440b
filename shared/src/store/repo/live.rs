//! Live HubSpot changes: the portal → tenant index the webhook intake routes by, and the
//! per-tenant change log the intake appends to and the scoped pull job drains.
//!
//! | pk | sk | holds |
//! |---|---|---|
//! | `PORTALS` | `<portal id>` | the tenant connected to that HubSpot portal |
//! | `T#<tenant>` | `HSCHG#C#<id>` / `HSCHG#O#<id>` | latest pending change of a contact/company |
//! | `T#<tenant>` | `HSDEL#C#<id>` / `HSDEL#O#<id>` | a record deleted in HubSpot (no longer synced) |
//! | `T#<tenant>` | `PDCHG#V#<id>` / `PDCHG#A#<id>` | a Pendo visitor/account named by webhooks, not yet synced |
//!
//! The log keeps one entry per record: the event with the latest `occurredAt` wins, so
//! redelivered and out-of-order events converge. An entry is removed only if its version is
//! unchanged since it was read, so an event arriving while a job works is never lost.

use super::*;

const PORTALS_PK: &str = "PORTALS";
/// The cursor where the last HubSpot webhook event of a tenant is recorded.
pub const LIVE_CURSOR: &str = "hubspot-live";

/// When a tenant last heard from HubSpot's webhooks (status API; the daily pull trusts the
/// change log only while events arrive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveStatus {
    /// `occurredAt` of the newest event received (epoch ms).
    pub last_event_at_ms: i64,
    pub last_received_at: DateTime<Utc>,
}
/// A change not drained within this long is dropped; the daily keyset search catches it.
const CHANGE_TTL_DAYS: i64 = 7;

fn code(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Visitor => "C",
        ObjectKind::Account => "O",
    }
}

/// What happened to a HubSpot record, as the change log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LoggedChange {
    /// Read it again and pull it.
    Changed,
    /// Deleted in HubSpot.
    Deleted,
    /// Merged into `survivor` (a HubSpot record id).
    Merged { survivor: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEntry {
    pub change: LoggedChange,
    /// Epoch ms of the event that decided `change`.
    pub occurred_at_ms: i64,
}

/// A pending change as read from the log, with the version that must still hold to clear it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChange {
    pub hubspot_id: u64,
    pub entry: ChangeEntry,
    pub version: u64,
}

/// A record deleted in HubSpot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedRecord {
    pub deleted_at_ms: i64,
    /// The Pendo id it was joined to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pendo_id: Option<String>,
}

impl Repo {
    /// Records that `portal` belongs to `tenant` (OAuth callback).
    pub async fn put_portal(&self, portal: u64, tenant: &TenantId) -> Result<(), StoreError> {
        self.store
            .put(
                item(PORTALS_PK.into(), portal.to_string(), 1, None, tenant),
                Condition::Always,
            )
            .await
    }

    /// The tenant connected to `portal` now: an index entry left by a deleted tenant or by a
    /// reconnect to another portal is ignored. Tenants connected before the index existed
    /// are found by one pass over the tenants, and indexed.
    pub async fn tenant_for_portal(&self, portal: u64) -> Result<Option<Tenant>, StoreError> {
        if let Some(i) = self.store.get(PORTALS_PK, &portal.to_string()).await? {
            let id: TenantId = decode(&i)?;
            if let Some(t) = self.get_tenant(&id).await? {
                if t.hubspot_portal_id == Some(portal) {
                    return Ok(Some(t));
                }
            }
        }
        let mut after: Option<String> = None;
        loop {
            let page = self.list_tenants(after.as_deref(), 200).await?;
            if let Some(t) = page
                .items
                .into_iter()
                .find(|t| t.hubspot_portal_id == Some(portal))
            {
                self.put_portal(portal, &t.id).await?;
                return Ok(Some(t));
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(None),
            }
        }
    }

    /// Adds a change to the log unless a later one for the same record is already there.
    pub async fn log_change(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        hubspot_id: u64,
        entry: &ChangeEntry,
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(id);
        let sk = format!("HSCHG#{}#{hubspot_id}", code(kind));
        let expires = (Utc::now() + Duration::days(CHANGE_TTL_DAYS)).timestamp();
        for _ in 0..5 {
            let current = self.store.get(&pk, &sk).await?;
            let condition = match &current {
                Some(i) => {
                    let old: ChangeEntry = decode(i)?;
                    if old.occurred_at_ms > entry.occurred_at_ms {
                        return Ok(());
                    }
                    Condition::VersionIs(i.version)
                }
                None => Condition::NotExists,
            };
            let version = current.map_or(1, |i| i.version + 1);
            match self
                .store
                .put(
                    item(pk.clone(), sk.clone(), version, Some(expires), entry),
                    condition,
                )
                .await
            {
                Err(e) if e.is_condition_failed() => continue,
                other => return other,
            }
        }
        Err(StoreError::ConditionFailed { pk, sk })
    }

    /// Up to `limit` pending changes of one object kind in key order, after the opaque
    /// position `after`; the page's `next` continues it.
    pub async fn pending_changes(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<PendingChange>, StoreError> {
        let head = format!("HSCHG#{}#", code(kind));
        let page = self
            .store
            .query(&tenant_pk(id), &head, after, limit, false)
            .await?;
        let items = page
            .items
            .iter()
            .map(|i| {
                Ok(PendingChange {
                    hubspot_id: i.sk[head.len()..]
                        .parse()
                        .map_err(|_| StoreError::Corrupt {
                            pk: i.pk.clone(),
                            sk: i.sk.clone(),
                            reason: "record id is not a number".into(),
                        })?,
                    entry: decode(i)?,
                    version: i.version,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Removes a handled change; a newer event logged meanwhile (another version) stays.
    pub async fn clear_change(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        change: &PendingChange,
    ) -> Result<(), StoreError> {
        match self
            .store
            .delete(
                &tenant_pk(id),
                &format!("HSCHG#{}#{}", code(kind), change.hubspot_id),
                Condition::VersionIs(change.version),
            )
            .await
        {
            Err(e) if e.is_condition_failed() => Ok(()),
            other => other,
        }
    }

    pub async fn put_deleted(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        hubspot_id: u64,
        record: &DeletedRecord,
    ) -> Result<(), StoreError> {
        self.store
            .put(
                item(
                    tenant_pk(id),
                    format!("HSDEL#{}#{hubspot_id}", code(kind)),
                    1,
                    None,
                    record,
                ),
                Condition::Always,
            )
            .await
    }

    pub async fn get_deleted(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        hubspot_id: u64,
    ) -> Result<Option<DeletedRecord>, StoreError> {
        match self
            .store
            .get(
                &tenant_pk(id),
                &format!("HSDEL#{}#{hubspot_id}", code(kind)),
            )
            .await?
        {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }
}

/// A Pendo visitor or account named by webhook events and not yet synced (`PDCHG#V#<id>` /
/// `PDCHG#A#<id>`): the newest event time and the newest NPS answer the events carried.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendoChange {
    /// Epoch ms of the newest event.
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nps: Option<crate::domain::LatestNps>,
}

impl PendoChange {
    /// The later of two sightings: newest time, and the NPS answer given last (as of its
    /// own timestamp, so a redelivered or late older answer never replaces a newer one).
    pub fn merge(self, other: PendoChange) -> PendoChange {
        let nps = match (self.nps, other.nps) {
            (Some(a), Some(b)) => Some(if b.at_ms > a.at_ms { b } else { a }),
            (a, b) => a.or(b),
        };
        PendoChange {
            at_ms: self.at_ms.max(other.at_ms),
            nps,
        }
    }
}

/// A pending Pendo change as read from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPendo {
    pub id: String,
    pub change: PendoChange,
    pub version: u64,
}

impl Repo {
    /// Adds a sighting of a Pendo id to the log, merged with what is there.
    pub async fn log_pendo_change(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        pendo_id: &str,
        change: &PendoChange,
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(id);
        let sk = format!("PDCHG#{}#{pendo_id}", kind.code());
        let expires = (Utc::now() + Duration::days(CHANGE_TTL_DAYS)).timestamp();
        for _ in 0..5 {
            let current = self.store.get(&pk, &sk).await?;
            let (merged, condition, version) = match &current {
                Some(i) => {
                    let old: PendoChange = decode(i)?;
                    let merged = old.clone().merge(change.clone());
                    if merged == old {
                        return Ok(());
                    }
                    (merged, Condition::VersionIs(i.version), i.version + 1)
                }
                None => (change.clone(), Condition::NotExists, 1),
            };
            match self
                .store
                .put(
                    item(pk.clone(), sk.clone(), version, Some(expires), &merged),
                    condition,
                )
                .await
            {
                Err(e) if e.is_condition_failed() => continue,
                other => return other,
            }
        }
        Err(StoreError::ConditionFailed { pk, sk })
    }

    /// One page of logged Pendo changes of `kind`, in id order after `after`.
    pub async fn pending_pendo_changes(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<PendingPendo>, StoreError> {
        let head = format!("PDCHG#{}#", kind.code());
        let page = self
            .store
            .query(&tenant_pk(id), &head, after, limit, false)
            .await?;
        let items = page
            .items
            .iter()
            .map(|i| {
                Ok(PendingPendo {
                    id: i.sk[head.len()..].to_string(),
                    change: decode(i)?,
                    version: i.version,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Removes a synced Pendo change; one logged again meanwhile (another version) stays.
    pub async fn clear_pendo_change(
        &self,
        id: &TenantId,
        kind: ObjectKind,
        change: &PendingPendo,
    ) -> Result<(), StoreError> {
        match self
            .store
            .delete(
                &tenant_pk(id),
                &format!("PDCHG#{}#{}", kind.code(), change.id),
                Condition::VersionIs(change.version),
            )
            .await
        {
            Err(e) if e.is_condition_failed() => Ok(()),
            other => other,
        }
    }
}
