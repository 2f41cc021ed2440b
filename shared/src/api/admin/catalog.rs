//! What the console's dropdowns offer: the portal's real HubSpot properties, deal pipelines and
//! lifecycle stages, and the subscription's Pendo custom fields, segments and features, with the
//! push fields the sync writes. Read live from both systems on each call.

use super::*;
use crate::domain::{PropertyType, PushField};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct HubSpotProperty {
    /// Internal name, as the configuration uses it.
    pub name: String,
    /// HubSpot property type: `string`, `number`, `date`, `datetime`, `enumeration`, `bool`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub group: Option<String>,
    pub unique: bool,
    /// Option values of an enumeration.
    pub options: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HubSpotStage {
    pub id: String,
    pub label: String,
    pub closed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct HubSpotPipeline {
    pub id: String,
    pub label: String,
    pub stages: Vec<HubSpotStage>,
}

#[derive(Serialize, ToSchema)]
pub struct HubSpotSchema {
    pub portal_id: Option<u64>,
    pub contact_properties: Vec<HubSpotProperty>,
    pub company_properties: Vec<HubSpotProperty>,
    pub deal_pipelines: Vec<HubSpotPipeline>,
    /// Values of the contacts' `lifecyclestage` property.
    pub lifecycle_stages: Vec<String>,
    /// Active owners (for rule forms that assign one). Empty when they cannot be read, with
    /// the reason in `owners_unavailable` (the optional `crm.objects.owners.read` scope was not
    /// granted, typically): the console then takes an owner id typed by hand.
    pub owners: Vec<crate::hubspot::Owner>,
    pub owners_unavailable: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PendoField {
    pub name: String,
    /// Pendo metadata type: `string`, `float`, `integer`, `boolean`, `time`, …
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct PendoItem {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushGroup {
    Usage,
    Nps,
}

/// A usage or NPS value the push writes into the HubSpot "Pendo" property group.
#[derive(Serialize, ToSchema)]
pub struct PushFieldInfo {
    pub field: PushField,
    /// The HubSpot property it creates (same name on contacts and companies).
    pub property: String,
    pub label: String,
    /// HubSpot property type: `datetime`, `date`, `number`, `string`, `enumeration`.
    #[serde(rename = "type")]
    pub kind: String,
    pub group: PushGroup,
    pub objects: Vec<ObjectKind>,
}

#[derive(Serialize, ToSchema)]
pub struct PendoSchema {
    pub visitor_fields: Vec<PendoField>,
    pub account_fields: Vec<PendoField>,
    pub segments: Vec<PendoItem>,
    pub features: Vec<PendoItem>,
    /// Tagged pages and track event types, to choose custom events from (`events.items`).
    pub pages: Vec<PendoItem>,
    pub track_types: Vec<PendoItem>,
    pub push_fields: Vec<PushFieldInfo>,
}

fn hubspot_upstream(e: crate::hubspot::HubSpotError) -> ApiError {
    upstream_err("could not read HubSpot", e)
}

fn pendo_upstream(e: crate::pendo::PendoError) -> ApiError {
    upstream_err("could not read Pendo", e)
}

/// The connected portal's contact and company properties, deal pipelines and lifecycle stages.
#[utoipa::path(get, path = "/v1/tenants/{id}/hubspot/schema", tag = "setup",
    params(("id" = TenantId, Path)),
    responses((status = 200, description = "The portal's schema", body = HubSpotSchema),
              (status = 409, description = "HubSpot not connected, or its token refused", body = ApiError),
              (status = 502, description = "HubSpot could not be read", body = ApiError)))]
pub(super) async fn hubspot_schema(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HubSpotSchema>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let version = api_version(&s, &t).await?;
    let hubspot = s
        .connectors
        .hubspot(&t, version)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot first"))?;
    let props = |list: Vec<crate::hubspot::PropertyInfo>| {
        let mut v: Vec<HubSpotProperty> = list
            .into_iter()
            .map(|p| HubSpotProperty {
                name: p.name,
                kind: p.kind,
                group: p.group_name,
                unique: p.has_unique_value,
                options: p.options.into_iter().map(|o| o.value).collect(),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    let contacts = hubspot
        .list_properties(ObjectKind::Visitor)
        .await
        .map_err(hubspot_upstream)?;
    let companies = hubspot
        .list_properties(ObjectKind::Account)
        .await
        .map_err(hubspot_upstream)?;
    let pipelines = hubspot.deal_pipelines().await.map_err(hubspot_upstream)?;
    let (owners, owners_unavailable) = match hubspot.owners().await {
        Ok(mut o) => {
            o.sort_by(|a, b| (&a.last_name, &a.first_name).cmp(&(&b.last_name, &b.first_name)));
            (o, None)
        }
        Err(e) => (Vec::new(), Some(format!("owners could not be read: {e}"))),
    };
    let lifecycle_stages = contacts
        .iter()
        .find(|p| p.name == "lifecyclestage")
        .map(|p| p.options.iter().map(|o| o.value.clone()).collect())
        .unwrap_or_default();
    Ok(Json(HubSpotSchema {
        portal_id: t.hubspot_portal_id,
        owners,
        owners_unavailable,
        contact_properties: props(contacts),
        company_properties: props(companies),
        deal_pipelines: pipelines
            .into_iter()
            .map(|p| HubSpotPipeline {
                stages: p
                    .stages
                    .iter()
                    .map(|st| HubSpotStage {
                        id: st.id.clone(),
                        label: st.label.clone(),
                        closed: st.is_closed(),
                    })
                    .collect(),
                id: p.id,
                label: p.label,
            })
            .collect(),
        lifecycle_stages,
    }))
}

/// The subscription's visitor and account custom fields, segments and features, and the push
/// fields the sync writes.
#[utoipa::path(get, path = "/v1/tenants/{id}/pendo/schema", tag = "setup",
    params(("id" = TenantId, Path)),
    responses((status = 200, description = "The subscription's schema", body = PendoSchema),
              (status = 409, description = "Pendo key not saved, or refused", body = ApiError),
              (status = 502, description = "Pendo could not be read", body = ApiError)))]
pub(super) async fn pendo_schema(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PendoSchema>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let pendo = s
        .connectors
        .pendo(&t)
        .await
        .map_err(|_| ApiError::conflict("save the Pendo integration key first"))?;
    let fields = |m: BTreeMap<String, String>| {
        m.into_iter()
            .map(|(name, kind)| PendoField { name, kind })
            .collect::<Vec<_>>()
    };
    let items = |v: Vec<(String, String)>| {
        v.into_iter()
            .map(|(id, name)| PendoItem { id, name })
            .collect::<Vec<_>>()
    };
    let visitor_fields = fields(
        pendo
            .custom_fields(ObjectKind::Visitor)
            .await
            .map_err(pendo_upstream)?,
    );
    let account_fields = fields(
        pendo
            .custom_fields(ObjectKind::Account)
            .await
            .map_err(pendo_upstream)?,
    );
    let segments = items(pendo.segments().await.map_err(pendo_upstream)?);
    let features = items(pendo.features().await.map_err(pendo_upstream)?);
    let pages = items(
        pendo
            .event_catalog(crate::domain::EventSource::Page)
            .await
            .map_err(pendo_upstream)?,
    );
    let track_types = items(
        pendo
            .event_catalog(crate::domain::EventSource::Track)
            .await
            .map_err(pendo_upstream)?,
    );
    Ok(Json(PendoSchema {
        visitor_fields,
        account_fields,
        segments,
        features,
        pages,
        track_types,
        push_fields: push_fields(),
    }))
}

pub fn push_fields() -> Vec<PushFieldInfo> {
    PushField::ALL
        .iter()
        .map(|&f| PushFieldInfo {
            field: f,
            property: f.property().into(),
            label: f.label().into(),
            kind: match f.property_type() {
                PropertyType::Datetime => "datetime",
                PropertyType::Date => "date",
                PropertyType::Number => "number",
                PropertyType::String => "string",
                PropertyType::Enumeration(_) => "enumeration",
            }
            .into(),
            group: match f {
                PushField::NpsScore
                | PushField::NpsText
                | PushField::NpsDate
                | PushField::NpsCategory => PushGroup::Nps,
                _ => PushGroup::Usage,
            },
            objects: ObjectKind::ALL
                .into_iter()
                .filter(|k| f.applies_to(*k))
                .collect(),
        })
        .collect()
}
