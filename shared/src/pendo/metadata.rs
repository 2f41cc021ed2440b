//! Custom metadata writes: `POST /api/v1/metadata/{kind}/custom/value`, ≤500 rows per call
//! (pendo.md §3: no documented maximum; 500 is what production users send). HTTP 200 is not
//! success: failed and missing rows are read from the answer.

use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;

use super::client::{id_field, PendoClient};
use super::{MetadataOutcome, MetadataRow, PendoError};
use crate::domain::ObjectKind;
use crate::http::{first_per_key, send_isolating};

pub const METADATA_BATCH: usize = 500;

impl PendoClient {
    /// Writes `rows`; a row repeating an earlier row's id is not sent (two values for one
    /// record in one call have no defined winner), and a call refused as a whole with a 4xx is
    /// split until the row that caused it is found and reported on its own.
    pub(super) async fn write_metadata(
        &self,
        kind: ObjectKind,
        rows: Vec<MetadataRow>,
    ) -> Result<MetadataOutcome, PendoError> {
        let mut outcome = MetadataOutcome::default();
        let (rows, repeated) = first_per_key(rows, |r| r.id.clone());
        for r in repeated {
            outcome.failed.push((
                r.id,
                "another row of this write targets the same record; not sent".into(),
            ));
        }
        let sent = send_isolating(
            rows,
            METADATA_BATCH,
            |chunk| self.write_chunk(kind, chunk),
            |e| {
                matches!(
                    e,
                    PendoError::Api {
                        status: 400 | 409 | 422,
                        ..
                    }
                )
            },
        )
        .await?;
        for part in sent.answers {
            outcome.updated += part.updated;
            outcome.failed.extend(part.failed);
        }
        for (row, e) in sent.culprits {
            outcome.failed.push((
                row.id,
                format!("Pendo refused the write because of this row: {e}"),
            ));
        }
        Ok(outcome)
    }

    async fn write_chunk(
        &self,
        kind: ObjectKind,
        chunk: Vec<MetadataRow>,
    ) -> Result<MetadataOutcome, PendoError> {
        let field = id_field(kind);
        let body: Vec<Value> = chunk
            .iter()
            .map(|r| serde_json::json!({field: r.id, "values": r.values}))
            .collect();
        let v = self
            .call(
                "pendo.metadata_write",
                Method::POST,
                &format!("/api/v1/metadata/{}/custom/value", kind.pendo_kind()),
                Some(&Value::Array(body)),
            )
            .await?;
        let mut outcome = MetadataOutcome {
            updated: v["updated"].as_u64().unwrap_or(0),
            failed: Vec::new(),
        };
        let mut failed_ids = HashSet::new();
        for m in v["missing"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
        {
            failed_ids.insert(m.to_string());
            outcome.failed.push((
                m.to_string(),
                format!("{} not found in Pendo", kind.pendo_kind()),
            ));
        }
        for e in v["errors"].as_array().into_iter().flatten() {
            if let Some(id) = e["id"].as_str() {
                failed_ids.insert(id.to_string());
                outcome.failed.push((
                    id.to_string(),
                    e["error"].as_str().unwrap_or("rejected").to_string(),
                ));
            }
        }
        // Pendo answers 200 even when rows fail. If it counts failures it did not name, none
        // of the unnamed rows can be trusted as written.
        let named = failed_ids.len() as u64;
        let reported = v["failed"].as_u64().unwrap_or(0)
            + v["missing"].as_array().map_or(0, |m| m.len() as u64);
        let accounted = outcome.updated + named;
        if reported > named || accounted < chunk.len() as u64 {
            for r in chunk.iter().filter(|r| !failed_ids.contains(&r.id)) {
                outcome.failed.push((
                    r.id.clone(),
                    "Pendo reported failures without naming rows".into(),
                ));
            }
            outcome.updated = 0;
        }
        Ok(outcome)
    }
}
