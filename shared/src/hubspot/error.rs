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
}

impl HubSpotError {
    /// Errors only a human can fix: the tenant is marked needs-attention, with no retry loop.
    pub fn needs_attention(&self) -> bool {
        matches!(
            self,
            HubSpotError::RefreshRevoked
                | HubSpotError::MissingScopes { .. }
                | HubSpotError::NotConnected
        )
    }
}
