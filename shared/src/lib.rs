//! The common crate of the Pendo ↔ HubSpot sync: domain, ports (`Store`, `Secrets`, `Queue`,
//! `PendoApi`, `HubSpotApi`), their adapters, and the sync engine. Lambda binaries stay thin.

pub mod api;
pub mod aws;
pub mod domain;
pub mod http;
pub mod hubspot;
pub mod pendo;
pub mod queue;
pub mod rules;
pub mod scheduler;
pub mod secret;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod worker;
