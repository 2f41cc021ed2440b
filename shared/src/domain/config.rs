//! Per-tenant sync configuration. Deserialisation goes through [`SyncConfigInput`] and
//! [`SyncConfig::validate`], so a stored or submitted config is always a valid one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::{ObjectKind, ValidationError};

/// The Pendo usage fields pushed into the HubSpot "Pendo" property group.
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
pub enum PushField {
    FirstVisit,
    LastVisit,
    UsageTrending,
    NpsScore,
    NpsText,
    NpsDate,
    NpsCategory,
    DaysActive,
    TimeOnApp,
    /// Accounts only.
    TotalVisitors,
}

/// HubSpot property type of a pushed field, as the properties API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyType {
    Datetime,
    Date,
    Number,
    String,
    Enumeration(&'static [&'static str]),
}

pub const NPS_CATEGORIES: &[&str] = &["promoter", "passive", "detractor"];

impl PushField {
    pub const ALL: [PushField; 10] = [
        PushField::FirstVisit,
        PushField::LastVisit,
        PushField::UsageTrending,
        PushField::NpsScore,
        PushField::NpsText,
        PushField::NpsDate,
        PushField::NpsCategory,
        PushField::DaysActive,
        PushField::TimeOnApp,
        PushField::TotalVisitors,
    ];

    /// The HubSpot property this field is written to (the same name on contacts and companies).
    pub fn property(self) -> &'static str {
        match self {
            PushField::FirstVisit => "pendo_first_visit",
            PushField::LastVisit => "pendo_last_visit",
            PushField::UsageTrending => "pendo_usage_trending",
            PushField::NpsScore => "pendo_latest_nps_score",
            PushField::NpsText => "pendo_latest_nps_text",
            PushField::NpsDate => "pendo_latest_nps_date",
            PushField::NpsCategory => "pendo_latest_nps_category",
            PushField::DaysActive => "pendo_days_active",
            PushField::TimeOnApp => "pendo_time_on_app",
            PushField::TotalVisitors => "pendo_total_visitors",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PushField::FirstVisit => "Pendo First Visit",
            PushField::LastVisit => "Pendo Last Visit",
            PushField::UsageTrending => "Pendo Usage Trending (%)",
            PushField::NpsScore => "Pendo Latest NPS Score",
            PushField::NpsText => "Pendo Latest NPS Response",
            PushField::NpsDate => "Pendo Latest NPS Date",
            PushField::NpsCategory => "Pendo Latest NPS Category",
            PushField::DaysActive => "Pendo Days Active (180 days)",
            PushField::TimeOnApp => "Pendo Time on App (minutes, 180 days)",
            PushField::TotalVisitors => "Pendo # of Total Visitors",
        }
    }

    pub fn property_type(self) -> PropertyType {
        match self {
            PushField::FirstVisit | PushField::LastVisit => PropertyType::Datetime,
            PushField::NpsDate => PropertyType::Date,
            PushField::NpsText => PropertyType::String,
            PushField::NpsCategory => PropertyType::Enumeration(NPS_CATEGORIES),
            _ => PropertyType::Number,
        }
    }

    pub fn applies_to(self, kind: ObjectKind) -> bool {
        self != PushField::TotalVisitors || kind == ObjectKind::Account
    }
}

/// Unique-value id properties we create and upsert on.
pub const VISITOR_ID_PROPERTY: &str = "pendo_visitor_id";
pub const ACCOUNT_ID_PROPERTY: &str = "pendo_account_id";
pub const PENDO_GROUP: &str = "pendo";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JoinKeys {
    /// HubSpot contact property whose values equal Pendo visitor ids.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,99}$")]
    pub contact_property: String,
    /// HubSpot company property whose values equal Pendo account ids.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,99}$")]
    pub company_property: String,
}

impl Default for JoinKeys {
    fn default() -> Self {
        Self {
            contact_property: VISITOR_ID_PROPERTY.into(),
            company_property: ACCOUNT_ID_PROPERTY.into(),
        }
    }
}

/// One HubSpot property copied into one Pendo custom metadata field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullMapping {
    pub object: ObjectKind,
    #[schema(pattern = "^[a-z][a-z0-9_]{0,99}$")]
    pub hubspot_property: String,
    #[schema(pattern = "^[a-z_][a-z0-9_]{0,99}$")]
    pub pendo_field: String,
    /// For a dropdown (enumeration) property: what reaches Pendo.
    #[serde(default)]
    pub enumeration: EnumerationValue,
}

/// What a HubSpot dropdown value becomes in Pendo. HubSpot stores an option's internal value
/// (custom options get numbers such as "1234567") and shows its label ("Evaluation"); Pendo
/// admins build segments on names, so the label is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnumerationValue {
    #[default]
    Label,
    Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityOptions {
    /// Match visitors without the id property to contacts by normalised email (default true).
    #[serde(default = "default_true")]
    pub match_contacts_by_email: bool,
    /// Pendo account metadata field holding a domain, used to match companies by `domain`.
    #[serde(default)]
    #[schema(pattern = "^[a-z_][a-z0-9_]{0,99}$")]
    pub account_domain_field: Option<String>,
    /// Create contacts for visitors with no match (off by default, as in Pendo's integration).
    #[serde(default)]
    pub create_missing_contacts: bool,
}

fn default_true() -> bool {
    true
}

impl Default for IdentityOptions {
    fn default() -> Self {
        Self {
            match_contacts_by_email: true,
            account_domain_field: None,
            create_missing_contacts: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NpsConfig {
    #[schema(min_length = 1, pattern = "\\S")]
    pub guide_id: String,
    #[schema(min_length = 1, pattern = "\\S")]
    pub score_poll_id: String,
    #[serde(default)]
    pub text_poll_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Hour of the day (UTC) the daily sync is due; the fan-out runs hourly and picks due tenants.
    #[schema(maximum = 23)]
    pub hour_utc: u8,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { hour_utc: 3 }
    }
}

/// Which family of HubSpot paths a tenant's client speaks. HubSpot publishes date-versioned
/// paths (`/crm/objects/2026-03/…`) and calls `/crm/v3`, `/crm/v4` and `/oauth/v3` legacy; the
/// legacy paths end in September 2027 (reference/hubspot.md §0). The bodies are the same, so
/// `legacy` is a per-tenant escape hatch for a portal where the new paths misbehave.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum HubSpotApiVersion {
    #[default]
    #[serde(rename = "2026-03")]
    V2026_03,
    #[serde(rename = "legacy")]
    Legacy,
}

/// Unvalidated shape, as submitted or stored.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncConfigInput {
    #[serde(default)]
    pub join: Option<JoinKeys>,
    #[serde(default)]
    pub push_fields: Option<Vec<PushField>>,
    #[serde(default)]
    pub pull: Vec<PullMapping>,
    #[serde(default)]
    pub identity: Option<IdentityOptions>,
    #[serde(default)]
    pub nps: Option<NpsConfig>,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// `"2026-03"` (default) or `"legacy"`; anything else is rejected naming this field.
    #[serde(default)]
    pub hubspot_api_version: Option<HubSpotApiVersion>,
    /// Pendo events sent to HubSpot as custom events (see `domain::events`).
    #[serde(default)]
    pub events: Option<super::EventsConfig>,
    /// Pendo segments followed by a contact property and/or a static list.
    #[serde(default)]
    pub segments: Vec<super::SegmentMapping>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "SyncConfigInput")]
pub struct SyncConfig {
    pub join: JoinKeys,
    pub push_fields: BTreeSet<PushField>,
    pub pull: Vec<PullMapping>,
    pub identity: IdentityOptions,
    pub nps: Option<NpsConfig>,
    pub schedule: Schedule,
    pub hubspot_api_version: HubSpotApiVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<super::EventsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<super::SegmentMapping>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            join: JoinKeys::default(),
            push_fields: PushField::ALL.into_iter().collect(),
            pull: Vec::new(),
            identity: IdentityOptions::default(),
            nps: None,
            schedule: Schedule::default(),
            hubspot_api_version: HubSpotApiVersion::default(),
            events: None,
            segments: Vec::new(),
        }
    }
}

fn is_property_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= 100
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Pendo metadata keys: letters, digits and `_`, starting with a letter or `_`; stored lower-cased.
fn is_pendo_field(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.len() <= 100
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl SyncConfig {
    pub fn validate(input: SyncConfigInput) -> Result<Self, ValidationError> {
        let join = input.join.unwrap_or_default();
        for (field, value) in [
            ("join.contact_property", &join.contact_property),
            ("join.company_property", &join.company_property),
        ] {
            if !is_property_name(value) {
                return Err(ValidationError::new(
                    field,
                    "must be a HubSpot internal property name (lower-case letters, digits, '_')",
                ));
            }
        }
        let push_fields: BTreeSet<PushField> = input
            .push_fields
            .map(|v| v.into_iter().collect())
            .unwrap_or_else(|| PushField::ALL.into_iter().collect());
        let pushed_properties: BTreeSet<&str> =
            PushField::ALL.iter().map(|f| f.property()).collect();
        let mut seen_targets = BTreeSet::new();
        for (i, m) in input.pull.iter().enumerate() {
            if !is_property_name(&m.hubspot_property) {
                return Err(ValidationError::new(
                    format!("pull[{i}].hubspot_property"),
                    "must be a HubSpot internal property name (lower-case letters, digits, '_')",
                ));
            }
            if !is_pendo_field(&m.pendo_field) {
                return Err(ValidationError::new(
                    format!("pull[{i}].pendo_field"),
                    "must be a Pendo custom field key (lower-case letters, digits, '_')",
                ));
            }
            // A pushed property pulled back would echo Pendo's own values into Pendo: a loop.
            if pushed_properties.contains(m.hubspot_property.as_str())
                || m.hubspot_property == VISITOR_ID_PROPERTY
                || m.hubspot_property == ACCOUNT_ID_PROPERTY
            {
                return Err(ValidationError::new(
                    format!("pull[{i}].hubspot_property"),
                    format!(
                        "'{}' is written by the push direction; a field can only sync one way",
                        m.hubspot_property
                    ),
                ));
            }
            if !seen_targets.insert((m.object, m.pendo_field.clone())) {
                return Err(ValidationError::new(
                    format!("pull[{i}].pendo_field"),
                    format!("'{}' is mapped twice", m.pendo_field),
                ));
            }
        }
        let schedule = input.schedule.unwrap_or_default();
        if schedule.hour_utc > 23 {
            return Err(ValidationError::new("schedule.hour_utc", "must be 0-23"));
        }
        if let Some(nps) = &input.nps {
            if nps.guide_id.trim().is_empty() {
                return Err(ValidationError::new("nps.guide_id", "must not be empty"));
            }
            if nps.score_poll_id.trim().is_empty() {
                return Err(ValidationError::new(
                    "nps.score_poll_id",
                    "must not be empty",
                ));
            }
        }
        if let Some(e) = &input.events {
            e.validate()?;
        }
        super::validate_segments(&input.segments)?;
        let identity = input.identity.unwrap_or_default();
        if let Some(f) = &identity.account_domain_field {
            if !is_pendo_field(f) {
                return Err(ValidationError::new(
                    "identity.account_domain_field",
                    "must be a Pendo metadata key",
                ));
            }
        }
        Ok(Self {
            join,
            push_fields,
            pull: input.pull,
            identity,
            nps: input.nps,
            schedule,
            hubspot_api_version: input.hubspot_api_version.unwrap_or_default(),
            events: input.events,
            segments: input.segments,
        })
    }

    pub fn pull_for(&self, kind: ObjectKind) -> impl Iterator<Item = &PullMapping> {
        self.pull.iter().filter(move |m| m.object == kind)
    }

    pub fn push_for(&self, kind: ObjectKind) -> impl Iterator<Item = PushField> + '_ {
        self.push_fields
            .iter()
            .copied()
            .filter(move |f| f.applies_to(kind))
    }

    pub fn join_property(&self, kind: ObjectKind) -> &str {
        match kind {
            ObjectKind::Visitor => &self.join.contact_property,
            ObjectKind::Account => &self.join.company_property,
        }
    }
}

impl TryFrom<SyncConfigInput> for SyncConfig {
    type Error = ValidationError;
    fn try_from(value: SyncConfigInput) -> Result<Self, Self::Error> {
        Self::validate(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<SyncConfig, String> {
        serde_json::from_str::<SyncConfig>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_push_everything() {
        let c = parse("{}").unwrap();
        assert_eq!(c.push_fields.len(), PushField::ALL.len());
        assert_eq!(c.join.contact_property, VISITOR_ID_PROPERTY);
        assert_eq!(c.push_for(ObjectKind::Visitor).count(), 9);
        assert_eq!(c.push_for(ObjectKind::Account).count(), 10);
    }

    #[test]
    fn rejects_loops_and_bad_names() {
        let e = parse(r#"{"pull":[{"object":"visitor","hubspot_property":"pendo_days_active","pendo_field":"x"}]}"#)
            .unwrap_err();
        assert!(e.contains("pull[0].hubspot_property"), "{e}");
        let e = parse(
            r#"{"pull":[{"object":"visitor","hubspot_property":"Bad Name","pendo_field":"x"}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("pull[0].hubspot_property"), "{e}");
        let e = parse(r#"{"pull":[{"object":"account","hubspot_property":"a","pendo_field":"f"},{"object":"account","hubspot_property":"b","pendo_field":"f"}]}"#)
            .unwrap_err();
        assert!(e.contains("pull[1].pendo_field"), "{e}");
        let e = parse(r#"{"schedule":{"hour_utc":24}}"#).unwrap_err();
        assert!(e.contains("schedule.hour_utc"), "{e}");
        let e = parse(r#"{"unknown":1}"#).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn hubspot_api_version_defaults_to_2026_03_and_accepts_only_known_families() {
        assert_eq!(
            parse("{}").unwrap().hubspot_api_version,
            HubSpotApiVersion::V2026_03
        );
        let legacy = parse(r#"{"hubspot_api_version":"legacy"}"#).unwrap();
        assert_eq!(legacy.hubspot_api_version, HubSpotApiVersion::Legacy);
        // Stored and served as the same string it was given.
        let round = serde_json::to_value(&legacy).unwrap();
        assert_eq!(round["hubspot_api_version"], "legacy");
        assert_eq!(parse(&round.to_string()).unwrap(), legacy);
        let e = parse(r#"{"hubspot_api_version":"v3"}"#).unwrap_err();
        assert!(e.contains("unknown variant"), "{e}");
    }
}
