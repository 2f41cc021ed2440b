//! OAuth 2.0 authorization-code flow against HubSpot's token endpoints (form-encoded bodies,
//! reference/hubspot.md §1). Every call maps the HTTP status to a typed error: 429/5xx and no
//! answer are temporary, `invalid_grant` means reconnect, anything else is a refusal.

use serde::Deserialize;
use std::time::Duration;

use super::paths::{HubSpotApiVersion, Paths};
use super::{HubSpotError, OAuthFailure};
use crate::http::RetryPolicy;
use crate::secret::SecretString;

/// Scopes the product needs (tasks use the contacts scopes).
pub const REQUIRED_SCOPES: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
];
pub const OPTIONAL_SCOPES: &[&str] = &["crm.objects.owners.read"];

#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
}

#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_in: u64,
    pub hub_id: Option<u64>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
    #[serde(default)]
    hub_id: Option<u64>,
}

/// HubSpot's OAuth error body: RFC 6749 fields plus the legacy and standard error fields
/// (`{"error","error_description","status","message","category","correlationId"}`,
/// reference/hubspot.md §1 and §6). Every field is optional: a gateway 5xx may be HTML.
#[derive(Deserialize, Default)]
struct OAuthErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    category: String,
    /// The rate-limit body's kind (`RATE_LIMIT`, reference/hubspot.md §6).
    #[serde(default, rename = "errorType")]
    error_type: String,
}

/// HubSpot's legacy `status` values that mean the grant itself is bad.
const INVALID_GRANT_STATUSES: &[&str] = &["BAD_REFRESH_TOKEN", "BAD_AUTH_CODE", "BAD_REDIRECT_URI"];

/// Classifies a non-2xx OAuth answer: 429/5xx are temporary, `invalid_grant` means the code or
/// token is spent or revoked, anything else is a refusal of the request itself.
fn oauth_failure(operation: &str, status: u16, bytes: &[u8]) -> HubSpotError {
    let body: OAuthErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
    let kind = match status {
        429 | 500..=599 => OAuthFailure::Temporary,
        _ if body.error == "invalid_grant"
            || INVALID_GRANT_STATUSES.contains(&body.status.as_str()) =>
        {
            OAuthFailure::InvalidGrant
        }
        _ => OAuthFailure::BadRequest,
    };
    let message = [&body.message, &body.error_description, &body.error]
        .into_iter()
        .find(|m| !m.is_empty())
        .map(|m| m.chars().take(500).collect())
        .unwrap_or_else(|| format!("HTTP {status} without an error body"));
    let code = [&body.error, &body.error_type, &body.category, &body.status]
        .into_iter()
        .find(|c| !c.is_empty())
        .cloned()
        .unwrap_or_default();
    HubSpotError::OAuth {
        operation: operation.into(),
        kind,
        status: Some(status),
        code,
        message,
    }
}

/// No HTTP answer (connection refused, reset, timeout): worth a retry. The URL is dropped from
/// the message because OAuth bodies and query strings may carry secrets.
fn unreachable(operation: &str, e: reqwest::Error) -> HubSpotError {
    HubSpotError::OAuth {
        operation: operation.into(),
        kind: OAuthFailure::Temporary,
        status: None,
        code: String::new(),
        message: format!("HubSpot did not answer: {}", e.without_url()),
    }
}

/// Which failures of an OAuth request may succeed when repeated.
#[derive(Clone, Copy)]
enum Repeatable {
    /// Only a 429: the request was refused before any work (an authorization code is single
    /// use, so a 5xx or a lost connection may already have consumed it).
    RateLimitOnly,
    /// 429, 5xx and lost connections (refreshing is idempotent and runs unattended; connect's
    /// introspection and deletion's revocation answer a person, who gets the typed failure).
    Transient,
}

/// One POST of a form to an OAuth endpoint; `Ok` carries the body of a 2xx answer, `Err` the
/// typed failure and HubSpot's `Retry-After`, if it sent one.
async fn post_form_once(
    url: &str,
    form: &[(&str, &str)],
    operation: &str,
) -> Result<Vec<u8>, (HubSpotError, Option<Duration>)> {
    let resp = http()
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| (unreachable(operation, e), None))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| (unreachable(operation, e), None))?
        .to_vec();
    if (200..300).contains(&status) {
        Ok(bytes)
    } else {
        Err((oauth_failure(operation, status, &bytes), retry_after))
    }
}

/// POSTs a form to an OAuth endpoint, repeating temporary failures the way API calls are
/// repeated (jittered backoff, `Retry-After` honoured, bounded attempts) as far as
/// `repeatable` allows. When it gives up, the error is HubSpot's last answer, typed.
async fn post_form(
    url: String,
    form: &[(&str, &str)],
    operation: &str,
    repeatable: Repeatable,
    retry: &RetryPolicy,
) -> Result<Vec<u8>, HubSpotError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (error, retry_after) = match post_form_once(&url, form, operation).await {
            Ok(bytes) => return Ok(bytes),
            Err(f) => f,
        };
        let again = match &error {
            HubSpotError::OAuth {
                kind: OAuthFailure::Temporary,
                status,
                ..
            } => *status == Some(429) || matches!(repeatable, Repeatable::Transient),
            _ => false,
        };
        if !again {
            return Err(error);
        }
        let said = error.to_string();
        if retry
            .pause("hubspot", operation, attempt, said, retry_after)
            .await
            .is_err()
        {
            return Err(error);
        }
    }
}

/// The URL an admin opens to install the app; `authorize_base` is HubSpot's or the sandbox's.
pub fn authorize_url(authorize_base: &str, app: &OAuthApp, state: &str) -> String {
    let mut url = url::Url::parse(authorize_base).expect("authorize base is a URL");
    url.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &app.redirect_uri)
        .append_pair("scope", &REQUIRED_SCOPES.join(" "))
        .append_pair("optional_scope", &OPTIONAL_SCOPES.join(" "))
        .append_pair("state", state);
    url.to_string()
}

fn http() -> reqwest::Client {
    crate::http::client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// A token grant. A bad refresh token is [`HubSpotError::RefreshRevoked`] (the tenant must
/// reconnect); other failures are [`HubSpotError::OAuth`] with HubSpot's message.
async fn token_call(
    api_base: &str,
    version: HubSpotApiVersion,
    form: &[(&str, &str)],
    operation: &str,
    repeatable: Repeatable,
    retry: &RetryPolicy,
) -> Result<TokenSet, HubSpotError> {
    let bytes = match post_form(
        format!("{api_base}{}", Paths(version).token()),
        form,
        operation,
        repeatable,
        retry,
    )
    .await
    {
        Ok(b) => b,
        Err(HubSpotError::OAuth {
            kind: OAuthFailure::InvalidGrant,
            ..
        }) if operation == "refresh" => return Err(HubSpotError::RefreshRevoked),
        Err(e) => return Err(e),
    };
    let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| HubSpotError::Decode {
        operation: operation.into(),
        message: e.to_string(),
    })?;
    Ok(TokenSet {
        access_token: SecretString::new(t.access_token),
        refresh_token: SecretString::new(t.refresh_token),
        expires_in: t.expires_in,
        hub_id: t.hub_id,
    })
}

pub async fn exchange_code(
    api_base: &str,
    version: HubSpotApiVersion,
    app: &OAuthApp,
    code: &str,
) -> Result<TokenSet, HubSpotError> {
    token_call(
        api_base,
        version,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &app.redirect_uri),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose()),
        ],
        "exchange",
        Repeatable::RateLimitOnly,
        &RetryPolicy::default(),
    )
    .await
}

/// A new access token from the refresh token, retried on 429, 5xx and lost connections with
/// `retry`.
pub async fn refresh(
    api_base: &str,
    version: HubSpotApiVersion,
    app: &OAuthApp,
    refresh_token: &SecretString,
    retry: &RetryPolicy,
) -> Result<TokenSet, HubSpotError> {
    token_call(
        api_base,
        version,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose()),
        ],
        "refresh",
        Repeatable::Transient,
        retry,
    )
    .await
}

/// The portal (hub id) an access token belongs to, from `POST …/token/introspect`
/// (form body `client_id, client_secret, token, token_type_hint`; answer
/// `{active, hub_id, …}`, reference/hubspot.md §1). Errors: an inactive token is
/// `OAuth { kind: InvalidGrant }`; 429/5xx or no answer `OAuth { kind: Temporary }`; other
/// refusals `OAuth { kind: BadRequest }`, each with HubSpot's message.
pub async fn introspect_hub_id(
    api_base: &str,
    version: HubSpotApiVersion,
    app: &OAuthApp,
    token: &SecretString,
) -> Result<u64, HubSpotError> {
    #[derive(Deserialize)]
    struct Info {
        #[serde(default)]
        active: bool,
        hub_id: Option<u64>,
    }
    let bytes = post_form(
        format!("{api_base}{}", Paths(version).introspect()),
        &[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("token", token.expose()),
            ("token_type_hint", "access_token"),
        ],
        "introspect",
        Repeatable::RateLimitOnly,
        &RetryPolicy::default(),
    )
    .await?;
    let info: Info = serde_json::from_slice(&bytes).map_err(|e| HubSpotError::Decode {
        operation: "introspect".into(),
        message: e.to_string(),
    })?;
    match (info.active, info.hub_id) {
        (true, Some(h)) => Ok(h),
        (active, _) => Err(HubSpotError::OAuth {
            operation: "introspect".into(),
            kind: OAuthFailure::InvalidGrant,
            status: Some(200),
            code: "inactive".into(),
            message: if active {
                "the token has no hub_id".into()
            } else {
                "token is not active".into()
            },
        }),
    }
}

/// Revokes a refresh token (`POST …/token/revoke`, tenant deletion). Callers treat failure as
/// best effort; the error still says whether it was temporary or a refusal.
pub async fn revoke(
    api_base: &str,
    version: HubSpotApiVersion,
    app: &OAuthApp,
    refresh_token: &SecretString,
) -> Result<(), HubSpotError> {
    post_form(
        format!("{api_base}{}", Paths(version).revoke()),
        &[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ],
        "revoke",
        Repeatable::RateLimitOnly,
        &RetryPolicy::default(),
    )
    .await
    .map(|_| ())
}
