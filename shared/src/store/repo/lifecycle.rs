//! Tenant deletion: a tombstone every worker checks, then the purge of everything stored.

use super::*;

/// Tombstones outlive any job still queued for the tenant (SQS keeps messages ≤ 14 days).
const TOMBSTONE_DAYS: i64 = 15;
const TOMBSTONES_PK: &str = "TOMBSTONES";

impl Repo {
    /// Marks the tenant as being deleted: from now on no run starts, a running one stops at
    /// its next request or batch, and its store writes are refused.
    pub async fn tombstone_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        let expires = (Utc::now() + Duration::days(TOMBSTONE_DAYS)).timestamp();
        self.store
            .put(
                item(
                    TOMBSTONES_PK.into(),
                    id.to_string(),
                    1,
                    Some(expires),
                    &expires,
                ),
                Condition::Always,
            )
            .await
    }

    /// A tenant id used again after its deletion finished (its record is gone).
    pub async fn clear_tombstone(&self, id: &TenantId) -> Result<(), StoreError> {
        self.store
            .delete(TOMBSTONES_PK, id.as_str(), Condition::Always)
            .await
    }

    pub async fn is_tombstoned(&self, id: &TenantId) -> Result<bool, StoreError> {
        Ok(self.store.get(TOMBSTONES_PK, id.as_str()).await?.is_some())
    }
}
