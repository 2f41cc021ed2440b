//! The admin console: a static single-page app (plain ES modules, no build step) compiled into
//! the binary and served by the admin API itself under `/console/`. Public in API Gateway, as
//! the browser must load it before signing in; every data call it makes goes to `/v1/...` with
//! `Authorization: Bearer <token>`, which the JWT authorizer (AWS) or `serve`'s tokens check.
//!
//! `GET /console/config.json` tells the app how to sign in: OpenID Connect authorization code
//! with PKCE against the issuer the JWT authorizer trusts (from `CONSOLE_OIDC_*` environment
//! variables set by the template), or, when none is configured (`serve`), a token field.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// (file name, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/api.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/ui.js"),
    ),
    (
        "wizard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/wizard.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/views.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    ),
];

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/console",
            // Relative: behind a named API Gateway stage the path has a prefix.
            get(|| async { Redirect::permanent("console/index.html") }),
        )
        .route(
            "/console/",
            get(|h: HeaderMap| async move { asset("index.html", &h) }),
        )
        .route("/console/config.json", get(config))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, h: HeaderMap| async move { asset(&file, &h) }),
        )
}

/// ETags of the assets (content hashes), computed once.
fn etags() -> &'static Vec<String> {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, b)| format!("\"{}\"", &hex::encode(Sha256::digest(b))[..20]))
            .collect()
    })
}

/// Security headers of every console response. The app loads only its own files; it talks to
/// the API on the same origin and, when signing in with OpenID Connect, to the issuer (https).
fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn asset(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|(n, _, _)| *n == name) else {
        return super::ApiError::not_found("console file").into_response();
    };
    let (_, ct, bytes) = ASSETS[i];
    let etag = &etags()[i];
    // Names carry no content hash, so browsers revalidate each time (a 304 when unchanged):
    // a deploy is seen at once and an unchanged file costs no body.
    let cache = "no-cache";
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return secure(
            (
                StatusCode::NOT_MODIFIED,
                [
                    (header::ETAG, etag.as_str()),
                    (header::CACHE_CONTROL, cache),
                ],
            )
                .into_response(),
        );
    }
    secure(
        (
            [
                (header::CONTENT_TYPE, ct),
                (header::ETAG, etag.as_str()),
                (header::CACHE_CONTROL, cache),
            ],
            bytes,
        )
            .into_response(),
    )
}

/// How the console signs in.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "sign_in", rename_all = "snake_case")]
pub enum ConsoleConfig {
    /// OpenID Connect authorization code + PKCE (in AWS).
    Oidc {
        issuer: String,
        client_id: String,
        /// Space-separated scopes.
        scopes: String,
        /// Endpoints, when the issuer's discovery document is not to be fetched by the browser.
        authorization_endpoint: Option<String>,
        token_endpoint: Option<String>,
        end_session_endpoint: Option<String>,
    },
    /// A bearer token typed in (local `serve`: the tokens it was started with).
    Token,
}

impl ConsoleConfig {
    /// `CONSOLE_OIDC_ISSUER` and `CONSOLE_OIDC_CLIENT_ID` (both non-empty) select OpenID
    /// Connect; `CONSOLE_OIDC_SCOPES`, `CONSOLE_OIDC_AUTHORIZE_URL`, `CONSOLE_OIDC_TOKEN_URL`,
    /// `CONSOLE_OIDC_LOGOUT_URL` are optional.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match (var("CONSOLE_OIDC_ISSUER"), var("CONSOLE_OIDC_CLIENT_ID")) {
            (Some(issuer), Some(client_id)) => Self::Oidc {
                issuer,
                client_id,
                scopes: var("CONSOLE_OIDC_SCOPES").unwrap_or_else(|| "openid email".into()),
                authorization_endpoint: var("CONSOLE_OIDC_AUTHORIZE_URL"),
                token_endpoint: var("CONSOLE_OIDC_TOKEN_URL"),
                end_session_endpoint: var("CONSOLE_OIDC_LOGOUT_URL"),
            },
            _ => Self::Token,
        }
    }
}

/// How the console signs in (public: read before signing in).
#[utoipa::path(get, path = "/console/config.json", tag = "console",
    responses((status = 200, description = "Sign-in settings", body = ConsoleConfig)))]
pub async fn config() -> Response {
    secure(
        (
            [(header::CACHE_CONTROL, "no-cache")],
            Json(ConsoleConfig::from_env()),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_have_types_and_unknown_files_are_404() {
        let h = HeaderMap::new();
        for (name, ct, _) in ASSETS {
            let r = asset(name, &h);
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], *ct);
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
            let mut again = HeaderMap::new();
            again.insert(header::IF_NONE_MATCH, r.headers()[header::ETAG].clone());
            assert_eq!(asset(name, &again).status(), StatusCode::NOT_MODIFIED);
        }
        assert_eq!(asset("../Cargo.toml", &h).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn sign_in_is_oidc_only_with_issuer_and_client() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let token = serde_json::to_value(ConsoleConfig::from_lookup(env(&[(
            "CONSOLE_OIDC_ISSUER",
            "https://issuer.example",
        )])))
        .unwrap();
        assert_eq!(token, serde_json::json!({"sign_in": "token"}));
        let oidc = serde_json::to_value(ConsoleConfig::from_lookup(env(&[
            ("CONSOLE_OIDC_ISSUER", "https://issuer.example"),
            ("CONSOLE_OIDC_CLIENT_ID", "abc"),
            ("CONSOLE_OIDC_TOKEN_URL", " "),
        ])))
        .unwrap();
        assert_eq!(oidc["sign_in"], "oidc");
        assert_eq!(oidc["client_id"], "abc");
        assert_eq!(oidc["scopes"], "openid email");
        assert!(oidc["token_endpoint"].is_null(), "blank is unset");
    }
}
