//! The public base URL our HTTP routes are reached at. The OAuth redirect URI and the Pendo
//! webhook URL are built from it.
//!
//! Fixed when a custom domain is configured (`PUBLIC_BASE_URL`, the template's `PublicBaseUrl`);
//! otherwise taken per request from what API Gateway received (`requestContext.domainName`
//! and the stage). Deriving it at run time is what keeps the template free of a reference from
//! each HTTP function to its own HttpApi, which CloudFormation rejects as a circular dependency
//! once the SAM transform makes the HttpApi's body refer to the functions.
//!
//! The admin API (authorize URL) and the OAuth callback (code exchange) are served by one
//! HttpApi, so both derive the same origin and the redirect URI stays byte-identical, as
//! HubSpot requires (`../shared/reference/hubspot.md` §1: the exchange's `redirect_uri` must
//! equal the authorize request's).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;

/// Path of the OAuth callback route, relative to the public base URL.
pub const OAUTH_CALLBACK_PATH: &str = "/oauth/callback";

/// How the public base URL is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicBase {
    /// A configured base such as `https://sync.example.com` (no trailing slash).
    Fixed(String),
    /// From the request's [`RequestOrigin`], inserted by the Lambda adapter.
    FromRequest,
}

impl PublicBase {
    /// An empty or absent setting means "derive from the request".
    pub fn from_setting(value: Option<&str>) -> Self {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Self::Fixed(v.trim_end_matches('/').to_string()),
            None => Self::FromRequest,
        }
    }
}

/// The origin of a request as API Gateway saw it: `https://{domainName}`, plus `/{stage}` for a
/// named stage (the `$default` stage has no path prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOrigin(pub String);

impl RequestOrigin {
    /// `None` when API Gateway gave no usable domain name (it always does for real requests).
    pub fn from_api_gateway(domain_name: Option<&str>, stage: Option<&str>) -> Option<Self> {
        let domain = domain_name.map(str::trim).filter(|d| is_host(d))?;
        let stage = stage
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "$default");
        Some(Self(match stage {
            Some(s) => format!("https://{domain}/{s}"),
            None => format!("https://{domain}"),
        }))
    }
}

/// A host name as API Gateway reports it: letters, digits, dots, hyphens and an optional port.
/// Anything else would let a forged value steer our redirect URI.
fn is_host(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

/// Extractor: the public base URL for this request (no trailing slash).
#[derive(Clone, Debug)]
pub struct PublicUrl(pub String);

impl PublicUrl {
    /// The redirect URI registered with the HubSpot app.
    pub fn oauth_redirect_uri(&self) -> String {
        format!("{}{OAUTH_CALLBACK_PATH}", self.0)
    }
}

impl FromRequestParts<AppState> for PublicUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match &state.public_base {
            PublicBase::Fixed(base) => Ok(Self(base.clone())),
            PublicBase::FromRequest => parts
                .extensions
                .get::<RequestOrigin>()
                .map(|o| Self(o.0.clone()))
                .ok_or_else(|| {
                    ApiError::internal(
                        "public base url",
                        "no PUBLIC_BASE_URL configured and the request carries no API Gateway domain name",
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_stage_has_no_prefix_and_named_stage_has_one() {
        let o = RequestOrigin::from_api_gateway(
            Some("abc123.execute-api.us-east-1.amazonaws.com"),
            Some("$default"),
        );
        assert_eq!(
            o.unwrap().0,
            "https://abc123.execute-api.us-east-1.amazonaws.com"
        );
        let o = RequestOrigin::from_api_gateway(Some("api.example.com"), Some("prod"));
        assert_eq!(o.unwrap().0, "https://api.example.com/prod");
    }

    #[test]
    fn forged_or_missing_domains_are_refused() {
        assert_eq!(RequestOrigin::from_api_gateway(None, None), None);
        assert_eq!(RequestOrigin::from_api_gateway(Some(""), None), None);
        assert_eq!(
            RequestOrigin::from_api_gateway(Some("evil.com/x?y"), None),
            None
        );
        assert_eq!(
            RequestOrigin::from_api_gateway(Some("a@evil.com"), None),
            None
        );
    }

    #[test]
    fn a_configured_base_wins_and_loses_its_trailing_slash() {
        assert_eq!(
            PublicBase::from_setting(Some("https://sync.example.com/")),
            PublicBase::Fixed("https://sync.example.com".into())
        );
        assert_eq!(
            PublicBase::from_setting(Some("  ")),
            PublicBase::FromRequest
        );
        assert_eq!(PublicBase::from_setting(None), PublicBase::FromRequest);
        assert_eq!(
            PublicUrl("https://x.test".into()).oauth_redirect_uri(),
            "https://x.test/oauth/callback"
        );
    }
}
