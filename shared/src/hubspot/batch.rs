//! Batch writes and reads (≤100 inputs per call) and the parsing of their 200/207 answers.

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::client::{HubSpotClient, Lane, BATCH_LIMIT};
use super::{BatchOutcome, HsRecord, HubSpotError, RecordFailure, WriteInput};
use crate::domain::ObjectKind;
use crate::http::{first_per_key, send_isolating};

impl HubSpotClient {
    /// Sends `inputs` ≤100 per call. An input repeating an earlier input's key is never sent
    /// (HubSpot refuses the whole batch); a batch refused as a whole for one input's sake is
    /// split until that input is found, which is then reported on its own.
    pub(super) async fn batch_write(
        &self,
        kind: ObjectKind,
        op: &str,
        id_property: Option<&str>,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError> {
        let mut outcome = BatchOutcome::default();
        let (inputs, repeated) = first_per_key(inputs, |i| i.key.clone());
        for i in repeated {
            outcome.failed.push(RecordFailure {
                key: i.key,
                property: None,
                category: "DUPLICATE_INPUT".into(),
                message: "another input of this batch targets the same record; not sent".into(),
            });
        }
        let sent = send_isolating(
            inputs,
            BATCH_LIMIT,
            |chunk| self.write_chunk(kind, op, id_property, chunk),
            |e| {
                matches!(
                    e,
                    HubSpotError::Api {
                        status: 400 | 409 | 422,
                        ..
                    }
                )
            },
        )
        .await?;
        for part in sent.answers {
            outcome.ok.extend(part.ok);
            outcome.failed.extend(part.failed);
        }
        for (input, e) in sent.culprits {
            let (category, message) = match e {
                HubSpotError::Api {
                    category, message, ..
                } => (category, message),
                other => (String::new(), other.to_string()),
            };
            outcome.failed.push(RecordFailure {
                key: input.key,
                property: None,
                message: format!("HubSpot refused the batch because of this record: {message}"),
                category,
            });
        }
        Ok(outcome)
    }

    async fn write_chunk(
        &self,
        kind: ObjectKind,
        op: &str,
        id_property: Option<&str>,
        chunk: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError> {
        let body_inputs: Vec<Value> = chunk
            .iter()
            .map(|i| {
                let mut v =
                    json!({"id": i.key, "properties": i.properties, "objectWriteTraceId": i.key});
                if let Some(p) = id_property {
                    v["idProperty"] = json!(p);
                }
                v
            })
            .collect();
        let answer = self
            .call(
                "hubspot.write",
                Method::POST,
                &self.paths().batch(kind.hubspot_object(), op),
                Some(&json!({"inputs": body_inputs})),
                Lane::Standard,
            )
            .await;
        let (status, body) = match answer {
            // Every input depends on the id property: no split can help, an admin must act.
            Err(HubSpotError::Api {
                status: 400,
                message,
                ..
            }) if message.contains("non-unique") => {
                return Err(HubSpotError::IdPropertyNotUnique {
                    object: kind.hubspot_object().into(),
                    property: id_property.unwrap_or("hs_object_id").into(),
                    message,
                })
            }
            other => other?,
        };
        if status == 404 {
            return Err(HubSpotError::Api {
                operation: format!("batch/{op}"),
                status,
                category: "NOT_FOUND".into(),
                message: message_of(&body),
            });
        }
        Ok(parse_batch(&body, &chunk, id_property))
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
            let answer = self
                .call(
                    "hubspot.read",
                    Method::POST,
                    &self.paths().batch(object, "read"),
                    Some(&body),
                    Lane::Standard,
                )
                .await;
            let (_, resp) = match answer {
                Err(HubSpotError::Api {
                    status: 400,
                    message,
                    ..
                }) if message.contains("non-unique") => {
                    return Err(HubSpotError::IdPropertyNotUnique {
                        object: object.into(),
                        property: id_property.into(),
                        message,
                    })
                }
                other => other?,
            };
            out.extend(records(&resp)?);
        }
        Ok(out)
    }
}

/// HubSpot's message, with the first detail (`errors[0]`: message and code) when there is
/// one: "Property values were not valid" alone does not say which rule was broken.
pub(super) fn message_of(v: &Value) -> String {
    let mut m = v["message"].as_str().unwrap_or("no message").to_string();
    let detail = &v["errors"][0];
    if let Some(d) = detail["message"].as_str() {
        m = format!("{m}: {d}");
        if let Some(code) = detail["code"].as_str() {
            m = format!("{m} ({code})");
        }
    }
    m.chars().take(500).collect()
}

/// Maps a 200/207 batch response back to inputs. Any input without a result and without an
/// error is reported as failed: nothing is assumed to have succeeded.
fn parse_batch(body: &Value, inputs: &[WriteInput], id_property: Option<&str>) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut pending: HashMap<&str, &WriteInput> =
        inputs.iter().map(|i| (i.key.as_str(), i)).collect();
    for r in body["results"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        // The trace id names the input even when the answer is another record: a merged
        // record's id is answered with the survivor's (its `hs_merged_object_ids` lists it).
        let merged = r["properties"]["hs_merged_object_ids"]
            .as_str()
            .unwrap_or_default()
            .split(';')
            .map(str::to_string);
        let by_value = match id_property {
            Some(p) => r["properties"][p].as_str().map(str::to_string),
            None => Some(id.clone()),
        };
        let key = r["objectWriteTraceId"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .chain(by_value)
            .chain(merged)
            .find(|k| pending.contains_key(k.as_str()));
        if let Some(key) = key {
            pending.remove(key.as_str());
            outcome.ok.push((key, id));
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
                    category: e["category"].as_str().unwrap_or_default().to_string(),
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
            category: String::new(),
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
