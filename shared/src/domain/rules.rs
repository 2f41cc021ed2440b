//! Lifecycle automations: typed rules evaluated during each sync. Each rule can run in dry-run
//! mode (reports what it would do). Validation of names against HubSpot and Pendo happens in
//! the admin API; here, shape and ranges.

use serde::{Deserialize, Serialize};

use super::ValidationError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Account engagement crosses a threshold: move its open deal from one stage to another.
    TrialToPaid {
        #[schema(min_length = 1, pattern = "\\S")]
        pipeline: String,
        #[schema(min_length = 1, pattern = "\\S")]
        from_stage: String,
        #[schema(min_length = 1, pattern = "\\S")]
        to_stage: String,
        #[schema(minimum = 1, maximum = 180)]
        min_days_active: u32,
    },
    /// Usage dropped by at least `drop_percent` against the prior 180 days: one task for the
    /// company owner per risk episode.
    ChurnRisk {
        #[schema(exclusive_minimum = 0, maximum = 100)]
        drop_percent: f64,
        /// Ignore accounts whose prior period was too small to mean anything.
        #[serde(default)]
        min_prior_minutes: u64,
    },
    /// Detractor (0–6): escalation task for the contact owner; promoter (9–10): set a property.
    NpsFollowUp {
        #[serde(default = "yes")]
        escalate_detractors: bool,
        #[serde(default)]
        promoter_property: Option<String>,
    },
    /// Visitors in a Pendo segment become contacts (found or created, never duplicated) with a
    /// lifecycle stage and optional owner.
    PqlRouting {
        #[schema(min_length = 1, pattern = "\\S")]
        segment_id: String,
        #[schema(min_length = 1, pattern = "\\S")]
        lifecycle_stage: String,
        #[serde(default)]
        owner_id: Option<String>,
    },
    /// Per-feature usage counts into contact properties, and an ordered onboarding checklist
    /// into a milestone property and a completion date.
    FeatureAdoption {
        /// Days counted for usage (ending at the last complete day).
        #[serde(default = "thirty")]
        #[schema(minimum = 1, maximum = 180)]
        window_days: u32,
        #[serde(default)]
        counts: Vec<FeatureCount>,
        #[serde(default)]
        milestones: Option<Milestones>,
    },
    /// Account usage above a threshold: create a deal for the company unless one this rule
    /// created is still open.
    Expansion {
        #[schema(minimum = 1)]
        min_total_visitors: u64,
        #[schema(min_length = 1, pattern = "\\S")]
        pipeline: String,
        #[schema(min_length = 1, pattern = "\\S")]
        stage: String,
    },
}

fn yes() -> bool {
    true
}

fn thirty() -> u32 {
    30
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureCount {
    pub feature_id: String,
    /// Number property on contacts.
    pub property: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Milestones {
    /// Feature ids, in onboarding order.
    #[schema(min_items = 1, max_items = 20)]
    pub steps: Vec<String>,
    /// String property: how far the contact got ("2 of 4").
    pub property: String,
    /// Date property: the day the last step was first done.
    pub completed_property: String,
}

// No deny_unknown_fields here: with `flatten` the tagged enum gets every field but `id` and
// `dry_run`, and it denies unknown ones itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    #[schema(pattern = "^[a-z0-9-]{1,40}$")]
    pub id: String,
    #[serde(flatten)]
    pub kind: RuleKind,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "RuleSetInput")]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

/// Rules per tenant. Every rule runs in every sync and may cost HubSpot calls; fifty covers
/// the workflows our users build (one or two of each kind per pipeline or segment).
pub const MAX_RULES: usize = 50;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetInput {
    #[schema(max_items = 50)]
    pub rules: Vec<Rule>,
}

impl TryFrom<RuleSetInput> for RuleSet {
    type Error = ValidationError;
    fn try_from(input: RuleSetInput) -> Result<Self, Self::Error> {
        if input.rules.len() > MAX_RULES {
            return Err(ValidationError::new(
                "rules",
                format!(
                    "at most {MAX_RULES} rules per tenant (got {})",
                    input.rules.len()
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in input.rules.iter().enumerate() {
            let id_ok = !r.id.is_empty()
                && r.id.len() <= 40
                && r.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                return Err(ValidationError::new(
                    format!("rules[{i}].id"),
                    "must be 1-40 characters of a-z, 0-9 and '-'",
                ));
            }
            if !seen.insert(r.id.clone()) {
                return Err(ValidationError::new(
                    format!("rules[{i}].id"),
                    format!("'{}' is used twice", r.id),
                ));
            }
            let nonempty = |field: &str, v: &str| {
                if v.trim().is_empty() {
                    Err(ValidationError::new(
                        format!("rules[{i}].{field}"),
                        "must not be empty",
                    ))
                } else {
                    Ok(())
                }
            };
            match &r.kind {
                RuleKind::TrialToPaid {
                    pipeline,
                    from_stage,
                    to_stage,
                    min_days_active,
                } => {
                    nonempty("pipeline", pipeline)?;
                    nonempty("from_stage", from_stage)?;
                    nonempty("to_stage", to_stage)?;
                    if from_stage == to_stage {
                        return Err(ValidationError::new(
                            format!("rules[{i}].to_stage"),
                            "must differ from from_stage",
                        ));
                    }
                    if !(1..=180).contains(min_days_active) {
                        return Err(ValidationError::new(
                            format!("rules[{i}].min_days_active"),
                            "must be 1-180",
                        ));
                    }
                }
                RuleKind::ChurnRisk { drop_percent, .. } => {
                    if !(drop_percent.is_finite() && *drop_percent > 0.0 && *drop_percent <= 100.0)
                    {
                        return Err(ValidationError::new(
                            format!("rules[{i}].drop_percent"),
                            "must be in (0, 100]",
                        ));
                    }
                }
                RuleKind::NpsFollowUp {
                    promoter_property, ..
                } => {
                    if let Some(p) = promoter_property {
                        nonempty("promoter_property", p)?;
                    }
                }
                RuleKind::PqlRouting {
                    segment_id,
                    lifecycle_stage,
                    ..
                } => {
                    nonempty("segment_id", segment_id)?;
                    nonempty("lifecycle_stage", lifecycle_stage)?;
                }
                RuleKind::FeatureAdoption {
                    window_days,
                    counts,
                    milestones,
                } => {
                    if !(1..=180).contains(window_days) {
                        return Err(ValidationError::new(
                            format!("rules[{i}].window_days"),
                            "must be 1-180",
                        ));
                    }
                    if counts.is_empty() && milestones.is_none() {
                        return Err(ValidationError::new(
                            format!("rules[{i}].counts"),
                            "give counts, milestones or both",
                        ));
                    }
                    for (j, c) in counts.iter().enumerate() {
                        nonempty(&format!("counts[{j}].feature_id"), &c.feature_id)?;
                        nonempty(&format!("counts[{j}].property"), &c.property)?;
                    }
                    if let Some(m) = milestones {
                        if m.steps.is_empty() || m.steps.len() > 20 {
                            return Err(ValidationError::new(
                                format!("rules[{i}].milestones.steps"),
                                "must list 1-20 features",
                            ));
                        }
                        nonempty("milestones.property", &m.property)?;
                        nonempty("milestones.completed_property", &m.completed_property)?;
                    }
                }
                RuleKind::Expansion {
                    min_total_visitors,
                    pipeline,
                    stage,
                } => {
                    nonempty("pipeline", pipeline)?;
                    nonempty("stage", stage)?;
                    if *min_total_visitors == 0 {
                        return Err(ValidationError::new(
                            format!("rules[{i}].min_total_visitors"),
                            "must be at least 1",
                        ));
                    }
                }
            }
        }
        Ok(RuleSet { rules: input.rules })
    }
}

/// One action a rule took (or, in dry run, would take), for the run record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionRecord {
    pub rule: String,
    pub object_id: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot_id: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_rules() {
        let ok: RuleSet = serde_json::from_str(
            r#"{"rules":[{"id":"churn","type":"churn_risk","drop_percent":30},
                         {"id":"nps","type":"nps_follow_up","promoter_property":"upsell_candidate","dry_run":true}]}"#,
        )
        .unwrap();
        assert_eq!(ok.rules.len(), 2);
        for (bad, field) in [
            (
                r#"{"rules":[{"id":"x","type":"churn_risk","drop_percent":0}]}"#,
                "rules[0].drop_percent",
            ),
            (
                r#"{"rules":[{"id":"a","type":"churn_risk","drop_percent":5},{"id":"a","type":"churn_risk","drop_percent":5}]}"#,
                "rules[1].id",
            ),
            (
                r#"{"rules":[{"id":"t","type":"trial_to_paid","pipeline":"p","from_stage":"a","to_stage":"a","min_days_active":3}]}"#,
                "rules[0].to_stage",
            ),
        ] {
            let e = serde_json::from_str::<RuleSet>(bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{e}");
        }
        assert!(
            serde_json::from_str::<RuleSet>(r#"{"rules":[{"id":"x","type":"teleport"}]}"#).is_err()
        );
    }
}
