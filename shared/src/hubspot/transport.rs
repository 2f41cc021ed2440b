//! Sending one request: token, rate-limit lane, retries, error mapping.

use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

use super::batch::message_of;
use super::client::{Auth, CachedToken, HubSpotClient, Lane};
use super::oauth;
use super::paths::Paths;
use super::HubSpotError;
use crate::secret::SecretString;

impl HubSpotClient {
    /// The paths of this client's family (2026-03 or legacy).
    pub(super) fn paths(&self) -> Paths {
        Paths(self.cfg.api_version)
    }

    /// A valid access token, refreshed *ahead* of expiry (at 80 % of `expires_in`, and never
    /// later than a minute before), never in reaction to a 401.
    pub(super) async fn access_token(&self) -> Result<SecretString, HubSpotError> {
        let (app, refresh_token) = match &self.auth {
            Auth::Static(t) => return Ok(t.clone()),
            Auth::OAuth { app, refresh_token } => (app, refresh_token),
        };
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        self.calls.incr("hubspot.oauth");
        let set = oauth::refresh(
            &self.cfg.api_base,
            self.cfg.api_version,
            app,
            refresh_token,
            &self.cfg.retry,
        )
        .await?;
        let lifetime = Duration::from_secs(set.expires_in);
        let ahead = (lifetime / 5).max(Duration::from_secs(60)).min(lifetime);
        *cached = Some(CachedToken {
            token: set.access_token.clone(),
            refresh_at: Instant::now() + lifetime - ahead,
        });
        Ok(set.access_token)
    }

    /// Sends one request with limiter, retries and error mapping. Returns status and JSON body
    /// for 2xx and 404 (absent things are the caller's business).
    pub(super) async fn call(
        &self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        lane: Lane,
    ) -> Result<(u16, Value), HubSpotError> {
        self.call_with(kind, method, path, body, lane, true).await
    }

    /// `idempotent = false`: only a 429 (rejected before any work) is retried; a 5xx or a lost
    /// connection may have created the record, so it is reported instead of repeated.
    pub(super) async fn call_with(
        &self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        lane: Lane,
        idempotent: bool,
    ) -> Result<(u16, Value), HubSpotError> {
        let url = format!("{}{}", self.cfg.api_base, path);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.cfg.cancel.check()?;
            let token = self.access_token().await?;
            let sent = match lane {
                Lane::Standard => self.limits.burst.acquire().await,
                Lane::Search => self.limits.search.acquire().await,
            };
            self.calls.incr(kind);
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose());
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = req.send().await;
            sent.answered();
            let (retry_reason, retry_after) = match outcome {
                // Never connected: the request cannot have reached HubSpot.
                Err(e) if !idempotent && e.is_connect() => {
                    (format!("transport: {}", e.without_url()), None)
                }
                Err(e) if !idempotent => {
                    return Err(HubSpotError::OutcomeUnknown {
                        operation: kind.into(),
                        message: e.without_url().to_string(),
                    })
                }
                Err(e) => (format!("transport: {}", e.without_url()), None),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) if !idempotent => {
                            // HubSpot answered, so it may have done it: never blindly resent.
                            return Err(HubSpotError::OutcomeUnknown {
                                operation: kind.into(),
                                message: format!("{status} with the body cut: {}", e.without_url()),
                            });
                        }
                        Err(e) => {
                            self.wait_or_give_up(
                                kind,
                                attempt,
                                format!("body: {}", e.without_url()),
                                None,
                            )
                            .await?;
                            continue;
                        }
                    };
                    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    match status {
                        200..=299 | 404 => return Ok((status, json)),
                        429 => {
                            let policy =
                                json["policyName"].as_str().unwrap_or_default().to_string();
                            if policy == "DAILY" {
                                return Err(HubSpotError::DailyLimit {
                                    operation: kind.into(),
                                });
                            }
                            // The server saw more than we did (other apps share the portal):
                            // stand back for a whole window.
                            let pause = match lane {
                                Lane::Search => Duration::from_secs(1),
                                Lane::Standard => self.cfg.window,
                            };
                            match lane {
                                Lane::Search => self.limits.search.penalize(pause),
                                Lane::Standard => self.limits.burst.penalize(pause),
                            }
                            (
                                format!("429 {policy}"),
                                retry_after.or(Some(Duration::ZERO)),
                            )
                        }
                        423 => (
                            "423 locked".to_string(),
                            retry_after.or(Some(Duration::from_secs(2))),
                        ),
                        500..=599 if !idempotent => {
                            return Err(HubSpotError::OutcomeUnknown {
                                operation: kind.into(),
                                message: format!("{status} {}", message_of(&json)),
                            })
                        }
                        500..=599 => (format!("{status} {}", message_of(&json)), retry_after),
                        401 => {
                            return Err(HubSpotError::Unauthorized {
                                operation: kind.into(),
                                message: message_of(&json),
                            })
                        }
                        403 if json["category"] == "MISSING_SCOPES" => {
                            return Err(HubSpotError::MissingScopes {
                                operation: kind.into(),
                                message: message_of(&json),
                            })
                        }
                        _ => {
                            return Err(HubSpotError::Api {
                                operation: kind.into(),
                                status,
                                category: json["category"].as_str().unwrap_or_default().to_string(),
                                message: message_of(&json),
                            })
                        }
                    }
                }
            };
            self.wait_or_give_up(kind, attempt, retry_reason, retry_after)
                .await?;
        }
    }

    async fn wait_or_give_up(
        &self,
        kind: &str,
        attempt: u32,
        reason: String,
        retry_after: Option<Duration>,
    ) -> Result<(), HubSpotError> {
        self.cfg
            .retry
            .pause("hubspot", kind, attempt, reason, retry_after)
            .await
            .map_err(|e| HubSpotError::RetriesExhausted {
                operation: kind.into(),
                attempts: e.attempts,
                last: e.last,
            })
    }
}
