//! Static contact lists (HubSpot Lists API, processing type MANUAL): find or create one by
//! name, add and remove members in one call per chunk.

use reqwest::Method;
use serde_json::json;

use super::client::{HubSpotClient, Lane};
use super::HubSpotError;

/// Record ids per add-and-remove call (our chunk; the reference notes give no cap).
pub const LIST_MEMBERSHIP_CHUNK: usize = 10_000;
/// Contacts' object type id.
const CONTACTS: &str = "0-1";

/// Members one add-and-remove call changed; ids HubSpot did not know come back as missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipChange {
    pub missing: Vec<String>,
}

impl HubSpotClient {
    pub(super) async fn list_find_or_create(&self, name: &str) -> Result<String, HubSpotError> {
        let (status, resp) = self
            .call(
                "hubspot.lists",
                Method::GET,
                &self.paths().list_by_name(CONTACTS, name),
                None,
                Lane::Standard,
            )
            .await?;
        if status != 404 {
            if let Some(id) = list_id(&resp) {
                return Ok(id);
            }
        }
        let body = json!({"name": name, "objectTypeId": CONTACTS, "processingType": "MANUAL"});
        // Not repeated blindly: a lost answer may have created it (found by name next run).
        let (_, resp) = self
            .call_with(
                "hubspot.lists",
                Method::POST,
                &self.paths().lists(),
                Some(&body),
                Lane::Standard,
                false,
            )
            .await?;
        list_id(&resp).ok_or_else(|| HubSpotError::Decode {
            operation: "create list".into(),
            message: "no list.listId in the answer".into(),
        })
    }

    pub(super) async fn list_change_members(
        &self,
        list_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<MembershipChange, HubSpotError> {
        let mut out = MembershipChange::default();
        let chunks = add.len().max(remove.len()).div_ceil(LIST_MEMBERSHIP_CHUNK);
        for i in 0..chunks {
            let part = |v: &[String]| -> Vec<String> {
                v.iter()
                    .skip(i * LIST_MEMBERSHIP_CHUNK)
                    .take(LIST_MEMBERSHIP_CHUNK)
                    .cloned()
                    .collect()
            };
            let body = json!({"recordIdsToAdd": part(add), "recordIdsToRemove": part(remove)});
            // Adding a member twice or removing a non-member changes nothing: safe to repeat.
            let (status, resp) = self
                .call(
                    "hubspot.lists",
                    Method::PUT,
                    &self.paths().list_memberships(list_id),
                    Some(&body),
                    Lane::Standard,
                )
                .await?;
            if status == 404 {
                return Err(HubSpotError::Api {
                    operation: "update list memberships".into(),
                    status,
                    category: "OBJECT_NOT_FOUND".into(),
                    message: format!("list {list_id} does not exist"),
                });
            }
            // HubSpot spells it `recordsIdsMissing` in some versions.
            for key in ["recordIdsMissing", "recordsIdsMissing"] {
                out.missing.extend(
                    resp[key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string)),
                );
            }
        }
        Ok(out)
    }
}

fn list_id(resp: &serde_json::Value) -> Option<String> {
    let id = &resp["list"]["listId"];
    id.as_str()
        .map(str::to_string)
        .or_else(|| id.as_u64().map(|n| n.to_string()))
}
