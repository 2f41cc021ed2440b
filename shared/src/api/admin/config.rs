//! Sync configuration and lifecycle rules, validated against the HubSpot and Pendo schemas.

use super::*;

/// The sync configuration (defaults until one is saved).
#[utoipa::path(get, path = "/v1/tenants/{id}/config", tag = "setup", params(("id" = TenantId, Path)),
    responses((status = 200, description = "The configuration", body = SyncConfig)))]
pub(super) async fn get_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SyncConfig>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    Ok(Json(s.repo.get_config(&t.id).await?.unwrap_or_default()))
}

/// Set the sync configuration, validated against the HubSpot properties and Pendo custom fields.
#[utoipa::path(put, path = "/v1/tenants/{id}/config", tag = "setup", params(("id" = TenantId, Path)),
    request_body = SyncConfigInput,
    responses((status = 200, description = "Saved; the configuration as stored", body = SyncConfig),
              (status = 409, description = "Pendo or HubSpot not connected, or its credentials refused", body = ApiError),
              (status = 502, description = "HubSpot or Pendo could not be read", body = ApiError)))]
pub(super) async fn put_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SyncConfigInput>,
) -> Result<Json<SyncConfig>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    let config = SyncConfig::validate(input)?;
    validate_against_schemas(&s, &t, &config).await?;
    s.repo.put_config(&t.id, &config).await?;
    Ok(Json(config))
}

/// Every named HubSpot property and Pendo field must exist, with a compatible type.
pub(super) async fn validate_against_schemas(
    s: &AppState,
    t: &Tenant,
    config: &SyncConfig,
) -> Result<(), ApiError> {
    let hubspot = s
        .connectors
        .hubspot(t, config.hubspot_api_version)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot before configuring the sync"))?;
    let pendo = s.connectors.pendo(t).await.map_err(|_| {
        ApiError::conflict("save the Pendo integration key before configuring the sync")
    })?;
    for kind in ObjectKind::ALL {
        let props = hubspot
            .list_properties(kind)
            .await
            .map_err(|e| upstream_err("could not read HubSpot properties", e))?;
        let join = config.join_property(kind);
        let ours = [
            crate::domain::VISITOR_ID_PROPERTY,
            crate::domain::ACCOUNT_ID_PROPERTY,
        ];
        if !ours.contains(&join) && !props.iter().any(|p| p.name == join) {
            let field = match kind {
                ObjectKind::Visitor => "join.contact_property",
                ObjectKind::Account => "join.company_property",
            };
            return Err(ApiError::invalid(
                field,
                format!("HubSpot {} has no property '{join}'", kind.hubspot_object()),
            ));
        }
        let mappings: Vec<(usize, &crate::domain::PullMapping)> = config
            .pull
            .iter()
            .enumerate()
            .filter(|(_, m)| m.object == kind)
            .collect();
        if mappings.is_empty() {
            continue;
        }
        let fields = pendo
            .custom_fields(kind)
            .await
            .map_err(|e| upstream_err("could not read Pendo metadata schema", e))?;
        for (i, m) in mappings {
            let Some(p) = props.iter().find(|p| p.name == m.hubspot_property) else {
                return Err(ApiError::invalid(
                    format!("pull[{i}].hubspot_property"),
                    format!(
                        "HubSpot {} has no property '{}'",
                        kind.hubspot_object(),
                        m.hubspot_property
                    ),
                ));
            };
            let Some(ty) = fields.get(&m.pendo_field) else {
                return Err(ApiError::invalid(
                    format!("pull[{i}].pendo_field"),
                    format!(
                        "Pendo {} custom field '{}' does not exist; create it under Settings → Data Mappings",
                        kind.pendo_kind(),
                        m.pendo_field
                    ),
                ));
            };
            let compatible = match ty.as_str() {
                "float" | "integer" => p.kind == "number",
                "boolean" => p.kind == "bool" || p.kind == "enumeration",
                "time" => p.kind == "date" || p.kind == "datetime",
                _ => true,
            };
            if !compatible {
                return Err(ApiError::invalid(
                    format!("pull[{i}].pendo_field"),
                    format!(
                        "Pendo field '{}' is {ty} but HubSpot property '{}' is {}",
                        m.pendo_field, p.name, p.kind
                    ),
                ));
            }
        }
    }
    super::config_checks::validate_events_and_segments(hubspot.as_ref(), pendo.as_ref(), config)
        .await
}

/// The lifecycle rules.
#[utoipa::path(get, path = "/v1/tenants/{id}/rules", tag = "setup", params(("id" = TenantId, Path)),
    responses((status = 200, description = "The rules", body = RuleSet)))]
pub(super) async fn get_rules(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleSet>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    Ok(Json(s.repo.get_rules(&t.id).await?))
}

/// Set the lifecycle rules (pipelines, stages, properties and segments must exist).
#[utoipa::path(put, path = "/v1/tenants/{id}/rules", tag = "setup", params(("id" = TenantId, Path)),
    request_body = RuleSetInput,
    responses((status = 200, description = "Saved", body = RuleSet),
              (status = 409, description = "Pendo or HubSpot not connected, or its credentials refused", body = ApiError),
              (status = 502, description = "HubSpot or Pendo could not be read", body = ApiError)))]
pub(super) async fn put_rules(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<RuleSetInput>,
) -> Result<Json<RuleSet>, ApiError> {
    let t = load(&s, &caller, &id).await?;
    // Validated here rather than inside deserialisation, so the error names the rule's field.
    let rules = RuleSet::try_from(input)?;
    validate_rules(&s, &t, &rules).await?;
    s.repo.put_rules(&t.id, &rules).await?;
    Ok(Json(rules))
}

/// Every pipeline, stage, property, option and segment a rule names must exist.
pub(super) async fn validate_rules(
    s: &AppState,
    t: &Tenant,
    rules: &RuleSet,
) -> Result<(), ApiError> {
    if rules.rules.is_empty() {
        return Ok(());
    }
    let version = api_version(s, t).await?;
    let hubspot = s
        .connectors
        .hubspot(t, version)
        .await
        .map_err(|_| ApiError::conflict("connect HubSpot before configuring rules"))?;
    let upstream = |e| upstream_err("could not read HubSpot", e);
    let pipelines = hubspot.deal_pipelines().await.map_err(upstream)?;
    let contact_props = hubspot
        .list_properties(ObjectKind::Visitor)
        .await
        .map_err(upstream)?;
    let stage_ok = |i: usize, field: &str, pipeline: &str, stage: &str| -> Result<(), ApiError> {
        let Some(p) = pipelines.iter().find(|p| p.id == pipeline) else {
            return Err(ApiError::invalid(
                format!("rules[{i}].pipeline"),
                format!("HubSpot has no deal pipeline '{pipeline}'"),
            ));
        };
        if p.stages.iter().any(|s| s.id == stage) {
            Ok(())
        } else {
            Err(ApiError::invalid(
                format!("rules[{i}].{field}"),
                format!("pipeline '{pipeline}' has no stage '{stage}'"),
            ))
        }
    };
    for (i, r) in rules.rules.iter().enumerate() {
        match &r.kind {
            RuleKind::TrialToPaid {
                pipeline,
                from_stage,
                to_stage,
                ..
            } => {
                stage_ok(i, "from_stage", pipeline, from_stage)?;
                stage_ok(i, "to_stage", pipeline, to_stage)?;
            }
            RuleKind::Expansion {
                pipeline, stage, ..
            } => stage_ok(i, "stage", pipeline, stage)?,
            RuleKind::NpsFollowUp {
                promoter_property: Some(p),
                ..
            } if !contact_props.iter().any(|c| &c.name == p) => {
                return Err(ApiError::invalid(
                    format!("rules[{i}].promoter_property"),
                    format!("HubSpot contacts have no property '{p}'"),
                ));
            }
            RuleKind::PqlRouting {
                segment_id,
                lifecycle_stage,
                owner_id,
            } => {
                // An owner must exist when the portal lets us read owners; without the optional
                // scope HubSpot itself refuses an unknown one when the rule writes it.
                if let Some(owner) = owner_id {
                    if let Ok(owners) = hubspot.owners().await {
                        if !owners.iter().any(|o| &o.id == owner) {
                            return Err(ApiError::invalid(
                                format!("rules[{i}].owner_id"),
                                format!("HubSpot has no active owner '{owner}'"),
                            ));
                        }
                    }
                }
                let lifecycle = contact_props.iter().find(|c| c.name == "lifecyclestage");
                if !lifecycle.is_some_and(|l| l.options.iter().any(|o| &o.value == lifecycle_stage))
                {
                    return Err(ApiError::invalid(
                        format!("rules[{i}].lifecycle_stage"),
                        format!("'{lifecycle_stage}' is not a lifecycle stage of this portal"),
                    ));
                }
                let pendo = s.connectors.pendo(t).await.map_err(|_| {
                    ApiError::conflict("save the Pendo key before configuring rules")
                })?;
                let segments = pendo
                    .segments()
                    .await
                    .map_err(|e| upstream_err("could not read Pendo segments", e))?;
                if !segments.iter().any(|(id, _)| id == segment_id) {
                    return Err(ApiError::invalid(
                        format!("rules[{i}].segment_id"),
                        format!("Pendo has no segment '{segment_id}'"),
                    ));
                }
            }
            RuleKind::FeatureAdoption {
                counts, milestones, ..
            } => {
                let pendo = s.connectors.pendo(t).await.map_err(|_| {
                    ApiError::conflict("save the Pendo key before configuring rules")
                })?;
                let features = pendo
                    .features()
                    .await
                    .map_err(|e| upstream_err("could not read Pendo features", e))?;
                let known = |f: &str| features.iter().any(|(id, _)| id == f);
                let prop = |name: &str, types: &[&str]| {
                    contact_props
                        .iter()
                        .any(|c| c.name == name && types.contains(&c.kind.as_str()))
                };
                for (j, c) in counts.iter().enumerate() {
                    if !known(&c.feature_id) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].counts[{j}].feature_id"),
                            format!("Pendo has no feature '{}'", c.feature_id),
                        ));
                    }
                    if !prop(&c.property, &["number"]) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].counts[{j}].property"),
                            format!("HubSpot contacts have no number property '{}'", c.property),
                        ));
                    }
                }
                if let Some(m) = milestones {
                    if let Some((k, f)) = m.steps.iter().enumerate().find(|(_, f)| !known(f)) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].milestones.steps[{k}]"),
                            format!("Pendo has no feature '{f}'"),
                        ));
                    }
                    if !prop(&m.property, &["string", "enumeration"]) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].milestones.property"),
                            format!("HubSpot contacts have no text property '{}'", m.property),
                        ));
                    }
                    if !prop(&m.completed_property, &["date", "datetime"]) {
                        return Err(ApiError::invalid(
                            format!("rules[{i}].milestones.completed_property"),
                            format!(
                                "HubSpot contacts have no date property '{}'",
                                m.completed_property
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
