//! OAuth 2.0 authorization-code flow against the v3 token endpoints (form-encoded bodies).

use serde::Deserialize;
use std::time::Duration;

use super::paths;
use super::HubSpotError;
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

/// HubSpot's token-endpoint error: RFC 6749 fields (`error`, `error_description`) with the
/// legacy `status`/`message` (hubspot.md §1), or the rate-limit body (`errorType`, `message`,
/// hubspot.md §6).
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
    #[serde(default, rename = "errorType")]
    error_type: String,
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

/// Which failures of a token request may succeed when repeated.
#[derive(Clone, Copy)]
enum Repeatable {
    /// Only a 429: the request was refused before any work (an authorization code is single
    /// use, so a 5xx or a lost connection may already have consumed it).
    RateLimitOnly,
    /// 429, 5xx and lost connections (refreshing is idempotent).
    Transient,
}

/// One failed token request: the error, and whether and when to try again.
struct TokenFailure {
    error: HubSpotError,
    retry: bool,
    retry_after: Option<Duration>,
}

async fn token_once(
    api_base: &str,
    form: &[(&str, &str)],
    operation: &str,
    repeatable: Repeatable,
) -> Result<TokenSet, TokenFailure> {
    let transient = matches!(repeatable, Repeatable::Transient);
    let resp = http()
        .post(format!("{api_base}{}", paths::TOKEN))
        .form(form)
        .send()
        .await
        .map_err(|e| TokenFailure {
            error: HubSpotError::RetriesExhausted {
                operation: operation.into(),
                attempts: 1,
                last: e.without_url().to_string(),
            },
            retry: transient,
            retry_after: None,
        })?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = resp.bytes().await.unwrap_or_default();
    if status == 200 {
        let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| TokenFailure {
            error: HubSpotError::Decode {
                operation: operation.into(),
                message: e.to_string(),
            },
            retry: false,
            retry_after: None,
        })?;
        return Ok(TokenSet {
            access_token: SecretString::new(t.access_token),
            refresh_token: SecretString::new(t.refresh_token),
            expires_in: t.expires_in,
            hub_id: t.hub_id,
        });
    }
    let body: OAuthErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
    if body.error == "invalid_grant" || body.status == "BAD_REFRESH_TOKEN" {
        let error = if operation == "refresh" {
            HubSpotError::RefreshRevoked
        } else {
            HubSpotError::Api {
                operation: operation.into(),
                status,
                category: "invalid_grant".into(),
                message: "authorization code is invalid or expired".into(),
            }
        };
        return Err(TokenFailure {
            error,
            retry: false,
            retry_after: None,
        });
    }
    let category = [body.error, body.error_type]
        .into_iter()
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    let message = [body.error_description, body.message]
        .into_iter()
        .find(|m| !m.is_empty())
        .unwrap_or_else(|| "no message".into());
    Err(TokenFailure {
        error: HubSpotError::Api {
            operation: operation.into(),
            status,
            category,
            message,
        },
        retry: status == 429 || (transient && status >= 500),
        retry_after,
    })
}

/// A token request, repeated on rate limits (and outages, if `repeatable` allows) with the
/// same backoff as API calls, honouring `Retry-After`. When it gives up, the error carries
/// HubSpot's own message.
async fn token_call(
    api_base: &str,
    form: &[(&str, &str)],
    operation: &str,
    repeatable: Repeatable,
    retry: &RetryPolicy,
) -> Result<TokenSet, HubSpotError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match token_once(api_base, form, operation, repeatable).await {
            Ok(t) => return Ok(t),
            Err(f) if f.retry => retry
                .pause(
                    "hubspot",
                    operation,
                    attempt,
                    f.error.to_string(),
                    f.retry_after,
                )
                .await
                .map_err(|e| HubSpotError::RetriesExhausted {
                    operation: operation.into(),
                    attempts: e.attempts,
                    last: e.last,
                })?,
            Err(f) => return Err(f.error),
        }
    }
}

pub async fn exchange_code(
    api_base: &str,
    app: &OAuthApp,
    code: &str,
) -> Result<TokenSet, HubSpotError> {
    token_call(
        api_base,
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

/// A new access token from the refresh token (`POST /oauth/v3/token`), retried on 429 and
/// 5xx with `retry`.
pub async fn refresh(
    api_base: &str,
    app: &OAuthApp,
    refresh_token: &SecretString,
    retry: &RetryPolicy,
) -> Result<TokenSet, HubSpotError> {
    token_call(
        api_base,
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

/// The portal (hub id) a token belongs to.
pub async fn introspect_hub_id(
    api_base: &str,
    app: &OAuthApp,
    token: &SecretString,
) -> Result<u64, HubSpotError> {
    #[derive(Deserialize)]
    struct Info {
        #[serde(default)]
        active: bool,
        hub_id: Option<u64>,
    }
    let resp = http()
        .post(format!("{api_base}{}", paths::INTROSPECT))
        .form(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("token", token.expose()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .map_err(|e| HubSpotError::RetriesExhausted {
            operation: "introspect".into(),
            attempts: 1,
            last: e.without_url().to_string(),
        })?;
    let info: Info = resp.json().await.map_err(|e| HubSpotError::Decode {
        operation: "introspect".into(),
        message: e.without_url().to_string(),
    })?;
    match (info.active, info.hub_id) {
        (true, Some(h)) => Ok(h),
        _ => Err(HubSpotError::Unauthorized {
            operation: "introspect".into(),
            message: "token is not active".into(),
        }),
    }
}

/// Revokes a refresh token (tenant deletion). Best effort: an already-revoked token is fine.
pub async fn revoke(
    api_base: &str,
    app: &OAuthApp,
    refresh_token: &SecretString,
) -> Result<(), HubSpotError> {
    http()
        .post(format!("{api_base}{}", paths::REVOKE))
        .form(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .map(|_| ())
        .map_err(|e| HubSpotError::RetriesExhausted {
            operation: "revoke".into(),
            attempts: 1,
            last: e.without_url().to_string(),
        })
}
