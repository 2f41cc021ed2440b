#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    #[error("HubSpot refresh token is invalid, expired or revoked; reconnect HubSpot")]
    RefreshRevoked,
    #[error("HubSpot rejected the access token during {operation}: {message}")]
    Unauthorized { operation: String, message: String },
    #[error("HubSpot app lacks scopes for {operation}: {message}")]
    MissingScopes { operation: String, message: String },
    #[error("HubSpot daily API limit reached during {operation}")]
    DailyLimit { operation: String },
    #[error("HubSpot {operation} failed with {status} {category}: {message}")]
    Api {
        operation: String,
        status: u16,
        category: String,
        message: String,
    },
    #[error("HubSpot {operation} still failing after {attempts} attempts: {last}")]
    RetriesExhausted {
        operation: String,
        attempts: u32,
        last: String,
    },
    #[error("HubSpot {operation}: cannot read response: {message}")]
    Decode { operation: String, message: String },
    #[error("invalid value for HubSpot property {property}: {message}")]
    InvalidValue { property: String, message: String },
    #[error("HubSpot is not connected for this tenant")]
    NotConnected,
    /// A request that is not safe to repeat was sent and its answer lost (connection or body
    /// broken, 5xx): HubSpot may have done it. Reconcile before sending it again.
    #[error("HubSpot {operation}: outcome unknown ({message}); look it up before repeating")]
    OutcomeUnknown { operation: String, message: String },
    #[error(transparent)]
    Stopped(#[from] crate::http::Stopped),
    /// The property we write and look records up by exists without `hasUniqueValue`, so
    /// HubSpot refuses every update/upsert/read by it (hubspot.md §3, §8 pitfall 4).
    #[error(
        "HubSpot {object} property {property} exists but is not unique ({message}). \
         An admin must delete it in HubSpot (Settings → Properties; its values are not needed) \
         so the sync can create it with unique values, or point join.contact_property / join.company_property at \
         a property with unique values; HubSpot cannot make an existing property unique."
    )]
    IdPropertyNotUnique {
        object: String,
        property: String,
        message: String,
    },
    /// An OAuth endpoint (token, introspect, revoke) failed; `message` is HubSpot's own
    /// (`message`, else `error_description`), `code` its `error` or `category`.
    #[error(
        "HubSpot OAuth {operation} failed ({kind}, HTTP {}{}): {message}",
        status.map_or("none".to_string(), |s| s.to_string()),
        if code.is_empty() { String::new() } else { format!(", {code}") }
    )]
    OAuth {
        operation: String,
        kind: OAuthFailure,
        /// `None` when no HTTP answer arrived (connection refused, timeout).
        status: Option<u16>,
        code: String,
        message: String,
    },
}

/// What an OAuth failure means for the caller (reference/hubspot.md §1 and §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthFailure {
    /// 429, 5xx or no answer: HubSpot may accept the same request later.
    Temporary,
    /// The code, refresh token or access token is invalid, expired or revoked
    /// (`error: invalid_grant`, an inactive token): a new authorization is needed.
    InvalidGrant,
    /// Any other refusal (client id/secret, redirect URI, parameters, unknown path):
    /// repeating the same request cannot succeed.
    BadRequest,
}

impl std::fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OAuthFailure::Temporary => "temporary, retry later",
            OAuthFailure::InvalidGrant => "invalid, expired or revoked grant",
            OAuthFailure::BadRequest => "request refused",
        })
    }
}

impl HubSpotError {
    /// Failures that may clear on their own (an outage, a rate limit): worth a later retry.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            HubSpotError::OAuth {
                kind: OAuthFailure::Temporary,
                ..
            } | HubSpotError::RetriesExhausted { .. }
        )
    }

    /// Errors only a human can fix: the tenant is marked needs-attention, with no retry loop.
    pub fn needs_attention(&self) -> bool {
        self.attention_kind().is_some()
    }

    /// The admin's remedy, for errors only an admin can fix.
    pub fn attention_kind(&self) -> Option<crate::domain::AttentionKind> {
        use crate::domain::AttentionKind as K;
        match self {
            HubSpotError::RefreshRevoked
            | HubSpotError::NotConnected
            | HubSpotError::OAuth {
                kind: OAuthFailure::InvalidGrant,
                ..
            } => Some(K::HubSpotReconnect),
            HubSpotError::MissingScopes { .. } => Some(K::HubSpotMissingScopes),
            HubSpotError::IdPropertyNotUnique { .. } => Some(K::IdPropertyNotUnique),
            _ => None,
        }
    }
}
