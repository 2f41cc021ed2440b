//! Stopping a running sync from outside: the lease keeper sets the flag when the tenant is
//! deleted or the lease is lost; both API clients check it before every request attempt and
//! the engine between batches, so nothing is sent once it is set.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Why a run must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    #[error("the tenant is being deleted; the run stopped")]
    TenantDeleted,
    #[error("lost the tenant lease mid-run; another worker may hold it")]
    LeaseLost,
}

/// A shared stop flag; the default never fires.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicU8>);

impl Cancel {
    pub fn stop(&self, why: Stopped) {
        let code = match why {
            Stopped::TenantDeleted => 1,
            Stopped::LeaseLost => 2,
        };
        // The first reason wins: a deletion stays a deletion.
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<Stopped> {
        match self.0.load(Ordering::SeqCst) {
            1 => Some(Stopped::TenantDeleted),
            2 => Some(Stopped::LeaseLost),
            _ => None,
        }
    }

    /// `Err` once stopped.
    pub fn check(&self) -> Result<(), Stopped> {
        self.reason().map_or(Ok(()), Err)
    }
}
