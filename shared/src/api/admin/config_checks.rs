//! Config checks against the live systems for custom events and segments: every chosen page,
//! feature, track type and segment must exist in the Pendo subscription, and a segment's
//! contact property must be a HubSpot boolean (or enumeration) property.

use super::*;
use crate::hubspot::HubSpotApi;
use crate::pendo::PendoApi;

pub(super) async fn validate_events_and_segments(
    hubspot: &dyn HubSpotApi,
    pendo: &dyn PendoApi,
    config: &SyncConfig,
) -> Result<(), ApiError> {
    if let Some(events) = &config.events {
        // One catalog read per source chosen.
        let mut catalogs = std::collections::HashMap::new();
        for source in events.items.iter().map(|i| i.source) {
            if let std::collections::hash_map::Entry::Vacant(e) = catalogs.entry(source) {
                e.insert(pendo.event_catalog(source).await.map_err(|e| {
                    upstream_err("could not list Pendo pages, features or track types", e)
                })?);
            }
        }
        for (i, item) in events.items.iter().enumerate() {
            if !catalogs[&item.source].iter().any(|(id, _)| *id == item.id) {
                return Err(ApiError::invalid(
                    format!("events.items[{i}].id"),
                    format!(
                        "the Pendo subscription has no {} with id '{}' (see GET …/pendo/schema)",
                        item.source.as_str(),
                        item.id
                    ),
                ));
            }
        }
    }
    if config.segments.is_empty() {
        return Ok(());
    }
    let segments = pendo
        .segments()
        .await
        .map_err(|e| upstream_err("could not list Pendo segments", e))?;
    let needs_props = config.segments.iter().any(|m| m.contact_property.is_some());
    let props = if needs_props {
        hubspot
            .list_properties(ObjectKind::Visitor)
            .await
            .map_err(|e| upstream_err("could not read HubSpot properties", e))?
    } else {
        Vec::new()
    };
    for (i, m) in config.segments.iter().enumerate() {
        if !segments.iter().any(|(id, _)| *id == m.segment_id) {
            return Err(ApiError::invalid(
                format!("segments[{i}].segment_id"),
                format!("the Pendo subscription has no segment '{}'", m.segment_id),
            ));
        }
        if let Some(name) = &m.contact_property {
            match props.iter().find(|p| p.name == *name) {
                Some(p) if p.kind == "bool" || p.kind == "enumeration" => {}
                Some(p) => {
                    return Err(ApiError::invalid(
                        format!("segments[{i}].contact_property"),
                        format!("HubSpot contact property '{name}' is {}, not a boolean", p.kind),
                    ))
                }
                None => {
                    return Err(ApiError::invalid(
                        format!("segments[{i}].contact_property"),
                        format!("HubSpot contacts have no property '{name}'; create it as a single checkbox (boolean)"),
                    ))
                }
            }
        }
    }
    Ok(())
}
