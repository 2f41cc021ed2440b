//! OAuth 2.0 authorization-code flow against the v3 token endpoints (form-encoded bodies).

use serde::Deserialize;
use std::time::Duration;

use super::paths;
use super::HubSpotError;
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

#[derive(Deserialize)]
struct OAuthErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    status: String,
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

async fn token_call(
    api_base: &str,
    form: &[(&str, &str)],
    operation: &str,
) -> Result<TokenSet, HubSpotError> {
    let resp = http()
        .post(format!("{api_base}{}", paths::TOKEN))
        .form(form)
        .send()
        .await
        .map_err(|e| HubSpotError::RetriesExhausted {
            operation: operation.into(),
            attempts: 1,
            last: e.without_url().to_string(),
        })?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    if status == 200 {
        let t: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| HubSpotError::Decode {
                operation: operation.into(),
                message: e.to_string(),
            })?;
        return Ok(TokenSet {
            access_token: SecretString::new(t.access_token),
            refresh_token: SecretString::new(t.refresh_token),
            expires_in: t.expires_in,
            hub_id: t.hub_id,
        });
    }
    let body: OAuthErrorBody = serde_json::from_slice(&bytes).unwrap_or(OAuthErrorBody {
        error: String::new(),
        error_description: String::new(),
        status: String::new(),
    });
    if body.error == "invalid_grant" || body.status == "BAD_REFRESH_TOKEN" {
        if operation == "refresh" {
            return Err(HubSpotError::RefreshRevoked);
        }
        return Err(HubSpotError::Api {
            operation: operation.into(),
            status,
            category: "invalid_grant".into(),
            message: "authorization code is invalid or expired".into(),
        });
    }
    Err(HubSpotError::Api {
        operation: operation.into(),
        status,
        category: body.error,
        message: body.error_description,
    })
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
    )
    .await
}

pub async fn refresh(
    api_base: &str,
    app: &OAuthApp,
    refresh_token: &SecretString,
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
