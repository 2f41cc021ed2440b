//! Pendo Page, Feature and Track Events sent to HubSpot as custom events: the per-tenant
//! choice of events, and HubSpot's naming and size rules (reference/hubspot.md §7b: internal
//! names start with a letter, lowercase a–z, 0–9 and `_`, ≤ 50 chars; ≤ 50 properties per
//! occurrence; values ≤ 50 chars, URL/referrer values ≤ 200).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

use super::ValidationError;

/// Longest HubSpot event or property internal name.
pub const NAME_MAX: usize = 50;
/// Most properties one occurrence may carry.
pub const PROPERTIES_MAX: usize = 50;
/// Longest property value; URL/referrer values may be longer ([`URL_VALUE_MAX`]).
pub const VALUE_MAX: usize = 50;
pub const URL_VALUE_MAX: usize = 200;
/// HubSpot's cap on custom event completions per portal and month (Pendo's note, §7b).
pub const HUBSPOT_MONTHLY_COMPLETIONS: u64 = 30_000_000;
/// Properties every occurrence carries besides the chosen Track Event properties.
pub const COUNT_PROPERTY: &str = "pendo_event_count";
pub const ACCOUNT_PROPERTY: &str = "pendo_account_id";

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Page,
    Feature,
    Track,
}

impl EventSource {
    /// The aggregation source (`pageEvents` …) and its id parameter (reference/pendo.md §2.2).
    pub fn pendo_source(self) -> (&'static str, &'static str) {
        match self {
            EventSource::Page => ("pageEvents", "pageId"),
            EventSource::Feature => ("featureEvents", "featureId"),
            EventSource::Track => ("trackEvents", "trackTypeId"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Page => "page",
            EventSource::Feature => "feature",
            EventSource::Track => "track",
        }
    }
}

/// One Pendo page, feature or track event type to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventItem {
    pub source: EventSource,
    /// The Pendo id of the page, feature or track type.
    #[schema(min_length = 1, max_length = 200)]
    pub id: String,
    /// Label of the HubSpot event (default: the Pendo id).
    #[serde(default)]
    pub label: Option<String>,
    /// Track Events only: properties sent along (each becomes a custom event property).
    #[serde(default)]
    #[schema(max_items = 48)]
    pub properties: Vec<String>,
}

impl EventItem {
    /// HubSpot internal name of this item's event definition.
    pub fn event_name(&self) -> String {
        hubspot_name(&format!("pendo_{}_{}", self.source.as_str(), self.id))
    }

    /// (Track property, HubSpot property name), in configured order.
    pub fn property_names(&self) -> Vec<(String, String)> {
        self.properties
            .iter()
            .map(|p| (p.clone(), hubspot_name(&format!("pendo_{p}"))))
            .collect()
    }

    /// The cursor this item's progress is kept under.
    pub fn cursor_name(&self) -> String {
        format!("events:{}:{}", self.source.as_str(), self.id)
    }
}

/// The events a tenant sends, and its budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    #[schema(max_items = 100)]
    pub items: Vec<EventItem>,
    /// Days of history sent when an item is first enabled (1–90, default 30).
    #[serde(default = "default_backfill")]
    #[schema(minimum = 1, maximum = 90)]
    pub backfill_days: u32,
    /// The portal's monthly custom event completion cap (default 30,000,000).
    #[serde(default = "default_monthly")]
    #[schema(minimum = 1)]
    pub monthly_limit: u64,
    /// Sending stops for the month once this share of `monthly_limit` is used (1–100, default 90).
    #[serde(default = "default_share")]
    #[schema(minimum = 1, maximum = 100)]
    pub stop_at_percent: u8,
}

fn default_backfill() -> u32 {
    30
}
fn default_monthly() -> u64 {
    HUBSPOT_MONTHLY_COMPLETIONS
}
fn default_share() -> u8 {
    90
}

impl EventsConfig {
    /// Completions this tenant may send in a month.
    pub fn monthly_allowance(&self) -> u64 {
        self.monthly_limit * u64::from(self.stop_at_percent) / 100
    }

    /// Checks every field; errors name the field (`events.items[2].properties[0]`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.items.len() > 100 {
            return Err(ValidationError::new("events.items", "at most 100 events"));
        }
        if !(1..=90).contains(&self.backfill_days) {
            return Err(ValidationError::new("events.backfill_days", "must be 1-90"));
        }
        if self.monthly_limit == 0 {
            return Err(ValidationError::new(
                "events.monthly_limit",
                "must be at least 1",
            ));
        }
        if !(1..=100).contains(&self.stop_at_percent) {
            return Err(ValidationError::new(
                "events.stop_at_percent",
                "must be 1-100",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, item) in self.items.iter().enumerate() {
            let id = item.id.trim();
            if id.is_empty() || item.id.len() > 200 {
                return Err(ValidationError::new(
                    format!("events.items[{i}].id"),
                    "must be 1-200 characters",
                ));
            }
            if !names.insert(item.event_name()) {
                return Err(ValidationError::new(
                    format!("events.items[{i}].id"),
                    "chosen twice",
                ));
            }
            if item.source != EventSource::Track && !item.properties.is_empty() {
                return Err(ValidationError::new(
                    format!("events.items[{i}].properties"),
                    "only Track Events carry properties",
                ));
            }
            if item.properties.len() > PROPERTIES_MAX - 2 {
                return Err(ValidationError::new(
                    format!("events.items[{i}].properties"),
                    "at most 48 (HubSpot takes 50 properties per event, two are ours)",
                ));
            }
            let mut props = BTreeSet::new();
            for (j, p) in item.properties.iter().enumerate() {
                let ok = p
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && p.len() <= 100
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok || !props.insert(hubspot_name(&format!("pendo_{p}"))) {
                    return Err(ValidationError::new(
                        format!("events.items[{i}].properties[{j}]"),
                        "must be a distinct Track Event property key (letters, digits, '_')",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A HubSpot internal name from any text: lowercase, runs of other characters become one `_`,
/// a leading letter, at most [`NAME_MAX`] chars; a name that had to be cut ends in 8 hex
/// digits of its full form's hash, so two long ids never collide.
pub fn hubspot_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    let out = if out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out
    } else {
        format!("e_{out}")
    };
    if out.len() <= NAME_MAX {
        return out;
    }
    let hash = hex8(&Sha256::digest(raw.as_bytes()));
    format!("{}_{hash}", out[..NAME_MAX - 9].trim_end_matches('_'))
}

fn hex8(bytes: &[u8]) -> String {
    bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A value cut to HubSpot's limit: 200 characters for URL-like properties (`url`, `referrer`,
/// `href` in the name), 50 for others. `None` when it fits.
pub fn truncated(property: &str, value: &str) -> Option<String> {
    let max = if ["url", "referrer", "href"]
        .iter()
        .any(|k| property.contains(k))
    {
        URL_VALUE_MAX
    } else {
        VALUE_MAX
    };
    (value.chars().count() > max).then(|| value.chars().take(max).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_hubspot_rules() {
        assert_eq!(
            hubspot_name("pendo_page_Home Page!"),
            "pendo_page_home_page"
        );
        assert_eq!(hubspot_name("9lives"), "e_9lives");
        let long = hubspot_name(&format!("pendo_feature_{}", "x".repeat(80)));
        assert_eq!(long.len(), NAME_MAX);
        assert!(long.starts_with("pendo_feature_xxx"));
        assert_ne!(
            long,
            hubspot_name(&format!("pendo_feature_{}", "x".repeat(81)))
        );
    }

    #[test]
    fn values_are_cut_to_the_limit() {
        assert_eq!(truncated("pendo_plan", "short"), None);
        assert_eq!(
            truncated("pendo_plan", &"a".repeat(60)).unwrap(),
            "a".repeat(50)
        );
        assert_eq!(truncated("pendo_url", &"u".repeat(150)), None);
        assert_eq!(truncated("pendo_url", &"u".repeat(250)).unwrap().len(), 200);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = EventsConfig {
            items: vec![EventItem {
                source: EventSource::Page,
                id: "p1".into(),
                label: None,
                properties: vec!["plan".into()],
            }],
            backfill_days: 30,
            monthly_limit: 100,
            stop_at_percent: 90,
        };
        assert_eq!(
            c.validate().unwrap_err().field,
            "events.items[0].properties"
        );
        c.items[0].properties.clear();
        assert!(c.validate().is_ok());
        assert_eq!(c.monthly_allowance(), 90);
        c.backfill_days = 0;
        assert_eq!(c.validate().unwrap_err().field, "events.backfill_days");
    }
}
