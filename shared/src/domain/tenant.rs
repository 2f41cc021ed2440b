use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{TenantId, ValidationError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Enabled,
    Disabled,
    /// Something only a human can fix (revoked token, deleted Pendo field). The scheduler skips it.
    NeedsAttention,
}

/// Pendo data-centre regions; a key only works against its own region's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PendoRegion {
    Us,
    Us1,
    Eu,
    Jp,
    Au,
}

impl PendoRegion {
    pub fn code(self) -> &'static str {
        match self {
            PendoRegion::Us => "us",
            PendoRegion::Us1 => "us1",
            PendoRegion::Eu => "eu",
            PendoRegion::Jp => "jp",
            PendoRegion::Au => "au",
        }
    }

    pub fn api_base(self) -> &'static str {
        match self {
            PendoRegion::Us => "https://app.pendo.io",
            PendoRegion::Us1 => "https://us1.app.pendo.io",
            PendoRegion::Eu => "https://app.eu.pendo.io",
            PendoRegion::Jp => "https://app.jpn.pendo.io",
            PendoRegion::Au => "https://app.au.pendo.io",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub status: TenantStatus,
    /// Why the tenant needs attention, in words an admin can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_reason: Option<String>,
    /// The typed cause and the admin's remedy while `status` is `needs_attention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<super::Attention>,
    pub pendo_region: PendoRegion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pendo_subscription: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot_portal_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version; the store increments it on every successful update.
    pub version: u64,
}

impl Tenant {
    pub fn new(
        id: TenantId,
        display_name: &str,
        pendo_region: PendoRegion,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > 200 {
            return Err(ValidationError::new(
                "display_name",
                "must be 1-200 characters",
            ));
        }
        // Shown in consoles, logs and e-mails: control characters (newlines, ANSI escapes) and
        // bidirectional overrides would let a name rewrite what is around it.
        if let Some(c) = display_name.chars().find(|c| is_unsafe_in_text(*c)) {
            return Err(ValidationError::new(
                "display_name",
                format!(
                    "must not contain control or bidirectional-override characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
        Ok(Self {
            id,
            display_name: display_name.to_string(),
            status: TenantStatus::Disabled,
            attention_reason: None,
            attention: None,
            pendo_region,
            pendo_subscription: None,
            hubspot_portal_id: None,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    pub fn needs_attention(&mut self, attention: super::Attention) {
        self.status = TenantStatus::NeedsAttention;
        self.attention_reason = Some(attention.reason.clone());
        self.attention = Some(attention);
    }

    /// Back to a state an admin has fixed.
    pub fn clear_attention(&mut self) {
        self.attention_reason = None;
        self.attention = None;
    }
}

/// Control characters (Unicode category Cc) and the bidirectional embedding, override and
/// isolate marks (Unicode TR #9, "Explicit Directional Formatting Characters").
fn is_unsafe_in_text(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

#[cfg(test)]
mod display_name_tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_refused() {
        let id = TenantId::parse("acme").unwrap();
        let now = Utc::now();
        for bad in [
            "a\nb",
            "a\u{1b}[31mred",
            "evil\u{202E}gpj.exe",
            "x\u{2066}y",
            "tab\there",
        ] {
            let e = Tenant::new(id.clone(), bad, PendoRegion::Us, now).unwrap_err();
            assert_eq!(e.field, "display_name", "{bad:?}");
        }
        assert_eq!(
            Tenant::new(id, "  Acme — Zürich 東京  ", PendoRegion::Us, now)
                .unwrap()
                .display_name,
            "Acme — Zürich 東京"
        );
    }
}
