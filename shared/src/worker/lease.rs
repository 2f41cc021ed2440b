//! The tenant lease held by a running job: short, and renewed in the background while the
//! run works, so a killed worker blocks its tenant for at most one lease lifetime. The same
//! heartbeat watches for the tenant's deletion and stops the run through its [`Cancel`] flag.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

use crate::domain::TenantId;
use crate::http::{Cancel, Stopped};
use crate::store::repo::{Lease, Repo};
use crate::store::StoreError;

/// How long a lease lives without renewal (what a killed worker costs its tenant).
pub const LEASE_TTL: Duration = Duration::from_secs(20);
/// How often a running job renews it: a quarter of the lifetime, so three renewals may fail
/// (store hiccups) before the lease is lost.
pub const LEASE_RENEW_EVERY: Duration = Duration::from_secs(5);

fn ttl(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).expect("lease ttl")
}

/// Takes the tenant's lease for `lifetime` if it is free or expired; `None` = another job
/// holds it.
pub async fn acquire(
    repo: &Repo,
    tenant: &TenantId,
    owner: &str,
    lifetime: Duration,
) -> Result<Option<Lease>, StoreError> {
    repo.acquire_lease(tenant, owner, ttl(lifetime)).await
}

/// Renews a held lease every `every` (to `lifetime` from then) until stopped or dropped;
/// stops the run when the lease is lost or the tenant is being deleted. Dropping it (the job's
/// future was cancelled) stops the renewals, so the lease then expires like a killed worker's.
pub struct LeaseKeeper {
    lease: Arc<Mutex<Lease>>,
    task: tokio::task::JoinHandle<()>,
    /// Asks the renewals to end after the one in progress, if any (see [`LeaseKeeper::stop`]).
    done: Arc<tokio::sync::Notify>,
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaseKeeper {
    pub fn start(
        repo: Repo,
        lease: Lease,
        every: Duration,
        lifetime: Duration,
        cancel: Cancel,
    ) -> Self {
        let lease = Arc::new(Mutex::new(lease));
        let held = lease.clone();
        let done = Arc::new(tokio::sync::Notify::new());
        let asked = done.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = asked.notified() => return,
                }
                let mut l = held.lock().await;
                match repo.is_tombstoned(&l.tenant_id).await {
                    Ok(true) => return cancel.stop(Stopped::TenantDeleted),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not check for a tombstone"),
                }
                match repo.renew_lease(&mut l, ttl(lifetime)).await {
                    Ok(true) => {}
                    Ok(false) => return cancel.stop(Stopped::LeaseLost),
                    Err(e) if l.expires_at <= Utc::now().timestamp() + every.as_secs() as i64 => {
                        tracing::warn!(error = %e, "lease renewal failing and about to expire; stopping");
                        return cancel.stop(Stopped::LeaseLost);
                    }
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying"),
                }
            }
        });
        Self { lease, task, done }
    }

    /// Stops renewing; the lease as last renewed (for release or purge).
    ///
    /// A renewal in progress is let finish, not aborted: its conditional write can land after
    /// an abort (the store call goes on without the task), and the lease returned would then
    /// carry the version before it, so releasing it would fail and the tenant's next job be
    /// deferred until the lease expired.
    pub async fn stop(mut self) -> Lease {
        self.done.notify_one();
        let _ = (&mut self.task).await;
        self.lease.lock().await.clone()
    }
}
