//! Batch writes and reads (≤100 inputs per call) and the parsing of their 200/207 answers.

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::client::{HubSpotClient, Lane, BATCH_LIMIT};
use super::{BatchOutcome, HsRecord, HubSpotError, RecordFailure, WriteInput};
use crate::domain::ObjectKind;

impl HubSpotClient {
    pub(super) async fn batch_write(
        &self,
        kind: ObjectKind,
        op: &str,
        id_property: Option<&str>,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError> {
        let mut outcome = BatchOutcome::default();
        for chunk in inputs.chunks(BATCH_LIMIT) {
            let body_inputs: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    let mut v = json!({"id": i.key, "properties": i.properties, "objectWriteTraceId": i.key});
                    if let Some(p) = id_property {
                        v["idProperty"] = json!(p);
                    }
                    v
                })
                .collect();
            let (status, body) = self
                .call(
                    "hubspot.write",
                    Method::POST,
                    &self.paths().batch(kind.hubspot_object(), op),
                    Some(&json!({"inputs": body_inputs})),
                    Lane::Standard,
                )
                .await?;
            if status == 404 {
                return Err(HubSpotError::Api {
                    operation: format!("batch/{op}"),
                    status,
                    category: "NOT_FOUND".into(),
                    message: message_of(&body),
                });
            }
            let part = parse_batch(&body, chunk, id_property);
            outcome.ok.extend(part.ok);
            outcome.failed.extend(part.failed);
        }
        Ok(outcome)
    }
    pub(super) async fn batch_read(
        &self,
        object: &str,
        id_property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError> {
        let mut out = Vec::new();
        for chunk in values.chunks(BATCH_LIMIT) {
            let inputs: Vec<Value> = chunk.iter().map(|v| json!({"id": v})).collect();
            let mut body =
                json!({"properties": properties, "propertiesWithHistory": [], "inputs": inputs});
            // Record ids are the default; `idProperty` names a unique property (or email).
            if id_property != "hs_object_id" {
                body["idProperty"] = json!(id_property);
            }
            let (_, resp) = self
                .call(
                    "hubspot.read",
                    Method::POST,
                    &self.paths().batch(object, "read"),
                    Some(&body),
                    Lane::Standard,
                )
                .await?;
            out.extend(records(&resp)?);
        }
        Ok(out)
    }
}

pub(super) fn message_of(v: &Value) -> String {
    v["message"]
        .as_str()
        .unwrap_or("no message")
        .chars()
        .take(500)
        .collect()
}

/// Maps a 200/207 batch response back to inputs. Any input without a result and without an
/// error is reported as failed: nothing is assumed to have succeeded.
fn parse_batch(body: &Value, inputs: &[WriteInput], id_property: Option<&str>) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut pending: HashMap<&str, &WriteInput> =
        inputs.iter().map(|i| (i.key.as_str(), i)).collect();
    for r in body["results"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        let key = match id_property {
            Some(p) => r["properties"][p].as_str().map(str::to_string),
            None => Some(id.clone()),
        };
        if let Some(key) = key {
            if pending.remove(key.as_str()).is_some() {
                outcome.ok.push((key, id));
            }
        }
    }
    for e in body["errors"].as_array().into_iter().flatten() {
        let message = e["message"]
            .as_str()
            .unwrap_or("record rejected")
            .to_string();
        let detail = e["errors"].as_array().and_then(|d| d.first());
        let property = detail
            .and_then(|d| d["context"]["propertyName"][0].as_str())
            .or_else(|| e["context"]["propertyName"][0].as_str())
            .map(str::to_string);
        let detail_msg = detail
            .and_then(|d| d["message"].as_str())
            .unwrap_or_default();
        let keys: Vec<String> = e["context"]["objectWriteTraceId"]
            .as_array()
            .or_else(|| e["context"]["ids"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        for key in keys {
            if pending.remove(key.as_str()).is_some() {
                outcome.failed.push(RecordFailure {
                    key,
                    property: property.clone(),
                    message: if detail_msg.is_empty() {
                        message.clone()
                    } else {
                        format!("{message}: {detail_msg}")
                    },
                });
            }
        }
    }
    let mut rest: Vec<&str> = pending.into_keys().collect();
    rest.sort();
    for key in rest {
        outcome.failed.push(RecordFailure {
            key: key.to_string(),
            property: None,
            message: "HubSpot returned no result for this record".into(),
        });
    }
    outcome
}

/// The `results` array of a response, typed.
pub(super) fn results<T: serde::de::DeserializeOwned>(
    body: &Value,
    operation: &str,
) -> Result<Vec<T>, HubSpotError> {
    serde_json::from_value(body["results"].clone()).map_err(|e| HubSpotError::Decode {
        operation: operation.into(),
        message: e.to_string(),
    })
}

pub(super) fn records(body: &Value) -> Result<Vec<HsRecord>, HubSpotError> {
    results(body, "records")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn input(k: &str) -> WriteInput {
        WriteInput {
            key: k.into(),
            properties: BTreeMap::new(),
        }
    }

    #[test]
    fn multi_status_maps_errors_to_inputs_and_never_assumes_success() {
        let body = json!({
            "status": "COMPLETE",
            "results": [{"id": "11", "properties": {"pendo_visitor_id": "a"}}],
            "numErrors": 1,
            "errors": [{"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid",
                        "context": {"objectWriteTraceId": ["b"]},
                        "errors": [{"message": "INVALID_DATE", "code": "INVALID_DATE", "context": {"propertyName": ["pendo_latest_nps_date"]}}]}]
        });
        let out = parse_batch(
            &body,
            &[input("a"), input("b"), input("c")],
            Some("pendo_visitor_id"),
        );
        assert_eq!(out.ok, vec![("a".to_string(), "11".to_string())]);
        assert_eq!(out.failed.len(), 2);
        assert_eq!(out.failed[0].key, "b");
        assert_eq!(
            out.failed[0].property.as_deref(),
            Some("pendo_latest_nps_date")
        );
        assert_eq!(out.failed[1].key, "c");
    }
}
