//! Custom events (reference/hubspot.md §7b): definitions and batch sends. Custom events need an
//! Enterprise tier; a portal without it refuses these calls (403), which callers report
//! instead of failing the sync.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::batch::results;
use super::client::{HubSpotClient, Lane};
use super::HubSpotError;

/// Occurrences per `send/batch` call (HubSpot's send-event-completions guide: up to 500).
pub const EVENT_BATCH_LIMIT: usize = 500;

/// A custom event definition to create: `name` follows HubSpot's internal-name rules
/// (`domain::hubspot_name`), properties are `(name, label, type)` with type `number` or `string`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDefinitionSpec {
    pub name: String,
    pub label: String,
    pub description: String,
    pub properties: Vec<(String, String, String)>,
}

/// A definition as HubSpot lists it: sends use `fully_qualified_name` (`pe{HubID}_{name}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDefinition {
    pub name: String,
    #[serde(rename = "fullyQualifiedName")]
    pub fully_qualified_name: String,
    #[serde(default)]
    pub properties: Vec<EventPropertyInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPropertyInfo {
    pub name: String,
}

/// One occurrence: `object_id` (a contact id) or `email` identifies the contact; `uuid`
/// makes a resend count once; `occurred_at` is ISO 8601.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventOccurrence {
    #[serde(rename = "eventName")]
    pub event_name: String,
    #[serde(rename = "objectId", skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(rename = "occurredAt")]
    pub occurred_at: String,
    pub properties: BTreeMap<String, String>,
    pub uuid: String,
}

impl HubSpotClient {
    pub(super) async fn list_event_definitions(
        &self,
    ) -> Result<Vec<EventDefinition>, HubSpotError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("{}?limit=100", self.paths().event_definitions());
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let (status, resp) = self
                .call("hubspot.events", Method::GET, &path, None, Lane::Standard)
                .await?;
            if status == 404 {
                return Err(refused("list event definitions", 404, &resp));
            }
            out.extend(results::<EventDefinition>(&resp, "event definitions")?);
            after = resp["paging"]["next"]["after"].as_str().map(str::to_string);
            if after.is_none() {
                return Ok(out);
            }
        }
    }

    pub(super) async fn post_event_definition(
        &self,
        spec: &EventDefinitionSpec,
    ) -> Result<EventDefinition, HubSpotError> {
        let body = json!({
            "name": spec.name,
            "label": spec.label,
            "description": spec.description,
            "primaryObject": "CONTACT",
            "propertyDefinitions": spec.properties.iter()
                .map(|(n, l, t)| json!({"name": n, "label": l, "type": t}))
                .collect::<Vec<_>>(),
        });
        // Not repeated blindly: a lost answer may have created it (the next list finds it).
        let (status, resp) = self
            .call_with(
                "hubspot.events",
                Method::POST,
                &self.paths().event_definitions(),
                Some(&body),
                Lane::Standard,
                false,
            )
            .await?;
        if status == 404 {
            return Err(refused("create event definition", 404, &resp));
        }
        serde_json::from_value(resp).map_err(|e| HubSpotError::Decode {
            operation: "create event definition".into(),
            message: e.to_string(),
        })
    }

    pub(super) async fn post_events(&self, batch: &[EventOccurrence]) -> Result<(), HubSpotError> {
        let body = json!({ "inputs": batch });
        // Safe to repeat: HubSpot counts an occurrence's uuid once.
        let (status, resp) = self
            .call(
                "hubspot.events",
                Method::POST,
                &self.paths().event_send_batch(),
                Some(&body),
                Lane::Standard,
            )
            .await?;
        if status == 404 {
            return Err(refused("send events", 404, &resp));
        }
        Ok(())
    }
}

fn refused(operation: &str, status: u16, body: &Value) -> HubSpotError {
    HubSpotError::Api {
        operation: operation.into(),
        status,
        category: body["category"].as_str().unwrap_or_default().to_string(),
        message: super::batch::message_of(body),
    }
}

impl HubSpotError {
    /// The portal cannot take custom events (no Enterprise tier, or the app lacks the scope):
    /// a 403 on an events call.
    pub fn events_unavailable(&self) -> bool {
        matches!(
            self,
            HubSpotError::MissingScopes { .. } | HubSpotError::Api { status: 403, .. }
        )
    }
}
