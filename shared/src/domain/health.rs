//! Tenant health: why a tenant needs an admin, and what the admin must do about it.

use serde::{Deserialize, Serialize};

/// Errors only an admin can fix, each with its one remedy. Stable snake_case codes in the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// The HubSpot refresh token is invalid, expired or revoked (or was never stored).
    #[serde(rename = "hubspot_reconnect")]
    HubSpotReconnect,
    /// The HubSpot app was installed without a scope the sync needs.
    #[serde(rename = "hubspot_missing_scopes")]
    HubSpotMissingScopes,
    /// Our id property exists in HubSpot without `hasUniqueValue` (hubspot.md §3, §8 pitfall 4).
    IdPropertyNotUnique,
    /// Pendo refuses the integration key (wrong, revoked, other region), or none is stored.
    PendoKeyInvalid,
    /// The Pendo key was created without "Allow Write Access".
    PendoNoWriteAccess,
    /// A mapped Pendo custom field is missing or of the wrong type.
    PendoFieldMissing,
    /// The stored configuration cannot run as it is.
    Configuration,
}

impl AttentionKind {
    /// What the admin has to do, in words shown next to the reason.
    pub fn action(self) -> &'static str {
        match self {
            AttentionKind::HubSpotReconnect => {
                "Reconnect HubSpot: POST /v1/tenants/{id}/hubspot/connect and approve the app again"
            }
            AttentionKind::HubSpotMissingScopes => {
                "Reconnect HubSpot and approve every scope the app asks for"
            }
            AttentionKind::IdPropertyNotUnique => {
                "In HubSpot (Settings → Properties) delete the non-unique property so the sync can \
                 recreate it with unique values, or point join.contact_property / \
                 join.company_property at a property with unique values; then enable the tenant again"
            }
            AttentionKind::PendoKeyInvalid => {
                "Save a new Pendo integration key: PUT /v1/tenants/{id}/pendo"
            }
            AttentionKind::PendoNoWriteAccess => {
                "Create a Pendo integration key with \"Allow Write Access\" and save it: PUT /v1/tenants/{id}/pendo"
            }
            AttentionKind::PendoFieldMissing => {
                "Create the Pendo custom field (Settings → Data Mappings) or change the pull mapping: PUT /v1/tenants/{id}/config"
            }
            AttentionKind::Configuration => {
                "Fix the sync configuration (PUT /v1/tenants/{id}/config), then enable the tenant again"
            }
        }
    }
}

/// Why a tenant stopped syncing: `{"kind", "reason", "action"}` in the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attention {
    pub kind: AttentionKind,
    /// The error as it happened (never contains a secret).
    pub reason: String,
    /// What to do about it ([`AttentionKind::action`]).
    pub action: String,
}

impl Attention {
    pub fn new(kind: AttentionKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            action: kind.action().to_string(),
        }
    }
}

/// The grouping key of a record error's message: tokens that name a record (anything holding a
/// digit or an `@`: ids, e-mails, counts) become `…`, so "Pendo v000521: …" and
/// "Pendo v000007: …" are one reason.
pub fn reason_key(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.chars().any(|c| c.is_ascii_digit() || c == '@') {
            out.push('…');
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in message.chars() {
        if c.is_alphanumeric() || matches!(c, '@' | '.' | '_' | '-' | '+') {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    // A sentence-ending period is part of the last token; keep it readable.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_are_masked_in_reasons() {
        assert_eq!(
            reason_key("Pendo v000521: visitor not found"),
            reason_key("Pendo v000007: visitor not found")
        );
        assert_eq!(
            reason_key("rule r1: Property values were not valid: ann@x.c0m"),
            "rule …: Property values were not valid: …"
        );
        assert_ne!(
            reason_key("visitor not found"),
            reason_key("value is not a number")
        );
    }
}
