//! Pendo segments followed in HubSpot: each mapped segment's members get a boolean contact
//! property and/or membership of a static (MANUAL) contact list; only the diff since the last
//! run (members who joined or left) is written.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::ValidationError;

/// Most segment mappings per tenant (each costs a Pendo aggregation per run).
pub const MAX_SEGMENT_MAPPINGS: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentMapping {
    /// The Pendo segment id.
    #[schema(min_length = 1, max_length = 200)]
    pub segment_id: String,
    /// An existing boolean contact property: `true` for members, `false` once they leave.
    #[serde(default)]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,99}$")]
    pub contact_property: Option<String>,
    /// A static contact list (Lists API, processing type MANUAL) holding the members; found
    /// by this name or created once.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub list_name: Option<String>,
}

impl SegmentMapping {
    /// Prefix of this segment's cursors (its list id is kept under `<prefix>:list`).
    pub fn cursor_name(&self) -> String {
        format!("segments:{}", self.segment_id)
    }
}

/// Checks the mappings; errors name the field (`segments[1].list_name`).
pub fn validate_segments(mappings: &[SegmentMapping]) -> Result<(), ValidationError> {
    if mappings.len() > MAX_SEGMENT_MAPPINGS {
        return Err(ValidationError::new(
            "segments",
            format!("at most {MAX_SEGMENT_MAPPINGS} segment mappings"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, m) in mappings.iter().enumerate() {
        if m.segment_id.trim().is_empty() || m.segment_id.len() > 200 {
            return Err(ValidationError::new(
                format!("segments[{i}].segment_id"),
                "must be 1-200 characters",
            ));
        }
        if !seen.insert(m.segment_id.clone()) {
            return Err(ValidationError::new(
                format!("segments[{i}].segment_id"),
                "mapped twice",
            ));
        }
        if m.contact_property.is_none() && m.list_name.is_none() {
            return Err(ValidationError::new(
                format!("segments[{i}]"),
                "needs contact_property, list_name or both",
            ));
        }
        if let Some(p) = &m.contact_property {
            let mut chars = p.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && p.len() <= 100
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(ValidationError::new(
                    format!("segments[{i}].contact_property"),
                    "must be a HubSpot internal property name (lower-case letters, digits, '_')",
                ));
            }
        }
        if let Some(n) = &m.list_name {
            if n.trim().is_empty() || n.chars().count() > 100 {
                return Err(ValidationError::new(
                    format!("segments[{i}].list_name"),
                    "must be 1-100 characters",
                ));
            }
        }
    }
    Ok(())
}
