use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A CRM record as the object APIs return it (`SimplePublicObject`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct HsRecord {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    #[serde(default, rename = "updatedAt")]
    pub updated_at: Option<String>,
}

impl HsRecord {
    /// A property's value; `None` when HubSpot omitted it, sent `null` (requested, never set)
    /// or sent `""` (cleared): all three mean "no value".
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(|v| v.as_deref())
            .filter(|v| !v.is_empty())
    }
}

/// One record to write: `key` is the record id (update) or the unique id value (upsert).
#[derive(Clone, Debug, PartialEq)]
pub struct WriteInput {
    pub key: String,
    pub properties: BTreeMap<String, String>,
}

/// Per-record result of a batch write: 207 errors are failures, never successes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOutcome {
    /// (input key, HubSpot record id)
    pub ok: Vec<(String, String)>,
    pub failed: Vec<RecordFailure>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordFailure {
    pub key: String,
    pub property: Option<String>,
    /// HubSpot's error category (`OBJECT_NOT_FOUND`, `VALIDATION_ERROR`, …); empty if none.
    pub category: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCursor {
    pub since_ms: i64,
    pub after_id: u64,
    /// Modification-time windows (epoch ms, inclusive, sorted, ≤4) to leave out.
    pub skip: Vec<(i64, i64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    pub records: Vec<HsRecord>,
    /// `None` when the pass is complete.
    pub next: Option<SearchCursor>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PropertyInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, rename = "groupName")]
    pub group_name: Option<String>,
    #[serde(default, rename = "hasUniqueValue")]
    pub has_unique_value: bool,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PropertyOption {
    pub value: String,
    #[serde(default)]
    pub label: String,
}

/// A HubSpot owner (`GET /crm/v3/owners`): `id` is what `hubspot_owner_id` takes (not
/// `userId`, which HubSpot refuses there).
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct Owner {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, rename(deserialize = "firstName"))]
    pub first_name: Option<String>,
    #[serde(default, rename(deserialize = "lastName"))]
    pub last_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub stages: Vec<PipelineStage>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PipelineStage {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub metadata: StageMetadata,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct StageMetadata {
    /// HubSpot sends "true"/"false" as strings.
    #[serde(default, rename = "isClosed")]
    pub is_closed: Option<String>,
}

impl PipelineStage {
    pub fn is_closed(&self) -> bool {
        self.metadata.is_closed.as_deref() == Some("true")
    }
}

/// HubSpot-defined association type ids used by the rules.
pub mod association_types {
    pub const TASK_TO_CONTACT: u32 = 204;
    pub const TASK_TO_COMPANY: u32 = 192;
    pub const DEAL_TO_COMPANY: u32 = 341;
    pub const DEAL_TO_CONTACT: u32 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_null_and_empty_properties_all_read_as_no_value() {
        let r: HsRecord = serde_json::from_str(
            r#"{"id":"1","properties":{"a":null,"b":"","c":"x"},"createdAt":"2026-01-01T00:00:00Z",
                "updatedAt":"2026-01-02T00:00:00Z","archived":false}"#,
        )
        .unwrap();
        assert_eq!(r.prop("a"), None);
        assert_eq!(r.prop("b"), None);
        assert_eq!(r.prop("absent"), None);
        assert_eq!(r.prop("c"), Some("x"));
    }
}
