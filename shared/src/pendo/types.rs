use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct KeyCheck {
    pub valid: bool,
    #[serde(rename = "writeAccess", default)]
    pub write_access: bool,
}

/// A visitor row. Pendo's "no value" comes in several spellings (pendo.md §2.5: `firstvisit: 0`
/// for a visitor who never visited; `""`, `null` or a missing key elsewhere): all become `None`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PendoVisitor {
    #[serde(rename = "visitorId")]
    pub id: String,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, rename = "accountId", deserialize_with = "text")]
    pub account_id: Option<String>,
    #[serde(default, rename = "firstVisit", deserialize_with = "epoch_ms")]
    pub first_visit_ms: Option<i64>,
    #[serde(default, rename = "lastVisit", deserialize_with = "epoch_ms")]
    pub last_visit_ms: Option<i64>,
    /// Pendo's GDPR flag, `metadata.pendo.donotprocess` (pendo.md §2.5): such a visitor must
    /// never reach the CRM. `true` or `"true"` sets it; anything else (missing, `null`) does not.
    #[serde(default, rename = "doNotProcess", deserialize_with = "flag")]
    pub do_not_process: bool,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match &v {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    })
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PendoAccount {
    #[serde(rename = "accountId")]
    pub id: String,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub domain: Option<String>,
    #[serde(default, rename = "firstVisit", deserialize_with = "epoch_ms")]
    pub first_visit_ms: Option<i64>,
    #[serde(default, rename = "lastVisit", deserialize_with = "epoch_ms")]
    pub last_visit_ms: Option<i64>,
}

/// Epoch milliseconds, or `None` for Pendo's "never": `0` (or below), `""`, `null`, a
/// non-numeric string. A numeric string is read as its number.
fn epoch_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    let ms = match &v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    Ok(ms.filter(|m| *m > 0))
}

/// A text value, or `None` for `""`, whitespace, `null` or a non-string.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRollup {
    pub id: String,
    pub day: i32,
    pub minutes: u32,
    pub events: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NpsCategory {
    Promoter,
    Passive,
    Detractor,
}

impl NpsCategory {
    /// 9–10 promoter, 7–8 passive, 0–6 detractor.
    pub fn of(score: u8) -> Self {
        match score {
            9..=10 => NpsCategory::Promoter,
            7..=8 => NpsCategory::Passive,
            _ => NpsCategory::Detractor,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            NpsCategory::Promoter => "promoter",
            NpsCategory::Passive => "passive",
            NpsCategory::Detractor => "detractor",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpsResponse {
    pub visitor_id: String,
    pub account_id: Option<String>,
    pub score: u8,
    pub text: Option<String>,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetadataRow {
    pub id: String,
    pub values: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetadataOutcome {
    pub updated: u64,
    /// (id, reason) for failed and missing rows.
    pub failed: Vec<(String, String)>,
}

/// One visitor's use of one feature over a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureUse {
    pub visitor_id: String,
    pub events: u64,
    /// Day number of the first use in the window.
    pub first_day: i32,
}

/// What to count: one page, feature or track type, per visitor and day, over a day range.
#[derive(Clone, Debug)]
pub struct EventCountQuery<'a> {
    pub source: crate::domain::EventSource,
    pub item_id: &'a str,
    /// Track Event properties to group by (each distinct combination is its own row).
    pub properties: &'a [String],
    pub first_day: i32,
    pub days: u32,
    /// Visitors strictly after this id.
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// Events of one item by one visitor on one day (with the chosen Track Event property values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventCount {
    pub visitor_id: String,
    pub account_id: Option<String>,
    pub day: i32,
    pub count: u64,
    /// (Track property, value as text), in the query's order; a missing value is absent.
    pub properties: Vec<(String, String)>,
}
