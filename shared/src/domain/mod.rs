//! The domain model: tenants, their sync configuration, per-object sync state, runs, jobs and leases.
//! Every type validates on construction and on deserialisation, so an invalid value cannot be represented.

mod config;
mod events;
mod health;
mod ids;
mod job;
mod rules;
mod run;
mod segments;
mod state;
mod tenant;

pub use config::*;
pub use events::*;
pub use health::*;
pub use ids::*;
pub use job::*;
pub use rules::*;
pub use run::*;
pub use segments::*;
pub use state::*;
pub use tenant::*;

/// A rejected value, naming the field so an API can answer 4xx with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Which side of the join an object is on.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// Pendo visitor ↔ HubSpot contact.
    Visitor,
    /// Pendo account ↔ HubSpot company.
    Account,
}

impl ObjectKind {
    pub fn code(self) -> &'static str {
        match self {
            ObjectKind::Visitor => "V",
            ObjectKind::Account => "A",
        }
    }
    pub fn hubspot_object(self) -> &'static str {
        match self {
            ObjectKind::Visitor => "contacts",
            ObjectKind::Account => "companies",
        }
    }
    pub fn pendo_kind(self) -> &'static str {
        match self {
            ObjectKind::Visitor => "visitor",
            ObjectKind::Account => "account",
        }
    }
    pub const ALL: [ObjectKind; 2] = [ObjectKind::Visitor, ObjectKind::Account];
}
