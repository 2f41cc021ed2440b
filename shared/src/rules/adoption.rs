//! Feature adoption and onboarding: per-feature usage counts and an ordered checklist written
//! to contact properties, only where the values changed since the rule last wrote them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::domain::{ObjectKind, Rule, RuleKind};
use crate::hubspot::WriteInput;
use crate::sync::engine::RunCtx;
use crate::sync::fields::{date_ms, fingerprint_texts};
use crate::sync::SyncError;

const PAGE: usize = 5000;
/// Onboarding looks back a year for first uses.
const MILESTONE_DAYS: i32 = 365;

async fn usage(
    ctx: &RunCtx<'_>,
    feature: &str,
    first_day: i32,
    days: u32,
) -> Result<HashMap<String, (u64, i32)>, SyncError> {
    let mut out = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .pendo
            .feature_usage(feature, first_day, days, after.as_deref(), PAGE)
            .await?;
        let done = page.len() < PAGE;
        after = page.last().map(|u| u.visitor_id.clone());
        for u in page {
            out.insert(u.visitor_id, (u.events, u.first_day));
        }
        if done || after.is_none() {
            return Ok(out);
        }
    }
}

pub(crate) async fn adoption(ctx: &mut RunCtx<'_>, rule: &Rule) -> Result<(), SyncError> {
    let RuleKind::FeatureAdoption {
        window_days,
        counts,
        milestones,
    } = &rule.kind
    else {
        return Ok(());
    };
    let today = ctx.opts.today;
    let mut count_maps = Vec::new();
    for c in counts {
        count_maps.push((
            c.property.clone(),
            usage(
                ctx,
                &c.feature_id,
                today - *window_days as i32 + 1,
                *window_days,
            )
            .await?,
        ));
    }
    let mut step_maps = Vec::new();
    if let Some(m) = milestones {
        for step in &m.steps {
            step_maps
                .push(usage(ctx, step, today - MILESTONE_DAYS + 1, MILESTONE_DAYS as u32).await?);
        }
    }
    // Everyone who used anything, plus everyone the rule wrote before (their counts may be 0 now).
    let mut visitors: BTreeSet<String> = count_maps
        .iter()
        .flat_map(|(_, m)| m.keys().cloned())
        .collect();
    visitors.extend(step_maps.iter().flat_map(|m| m.keys().cloned()));
    visitors.extend(
        ctx.repo
            .list_rule_fingerprint_ids(ctx.tenant, &rule.id)
            .await?,
    );
    let visitors: Vec<String> = visitors.into_iter().collect();
    for chunk in visitors.chunks(100) {
        let states = ctx
            .repo
            .get_object_states(ctx.tenant, ObjectKind::Visitor, chunk)
            .await?;
        let previous = ctx
            .repo
            .get_rule_fingerprints(ctx.tenant, &rule.id, chunk)
            .await?;
        let mut inputs = Vec::new();
        let mut written = Vec::new();
        for v in chunk {
            let Some(contact) = states.get(v).and_then(|s| s.hubspot_id.clone()) else {
                continue;
            };
            let mut values = BTreeMap::new();
            for (property, m) in &count_maps {
                values.insert(property.clone(), m.get(v).map_or(0, |u| u.0).to_string());
            }
            if let Some(ms) = milestones {
                let firsts: Vec<Option<i32>> =
                    step_maps.iter().map(|m| m.get(v).map(|u| u.1)).collect();
                let done = firsts.iter().take_while(|f| f.is_some()).count();
                values.insert(ms.property.clone(), format!("{done} of {}", ms.steps.len()));
                let completed = (done == ms.steps.len())
                    .then(|| firsts.iter().flatten().max().copied())
                    .flatten()
                    .map(|d| date_ms(crate::pendo::pipelines::day_start_ms(d)))
                    .unwrap_or_default();
                values.insert(ms.completed_property.clone(), completed);
            }
            let fp = fingerprint_texts(&values);
            if previous.get(v) == Some(&fp) {
                continue;
            }
            super::actions::record(
                ctx,
                rule,
                v,
                format!("set {}", describe(&values)),
                Some(contact.clone()),
                rule.dry_run || ctx.opts.dry_run,
            );
            inputs.push(WriteInput {
                key: contact,
                properties: values,
            });
            written.push((v.clone(), fp));
        }
        if inputs.is_empty() || rule.dry_run || ctx.opts.dry_run {
            continue;
        }
        let keys: HashMap<String, (String, String)> = inputs
            .iter()
            .zip(&written)
            .map(|(i, (v, fp))| (i.key.clone(), (v.clone(), fp.clone())))
            .collect();
        let outcome = ctx.hubspot.update(ObjectKind::Visitor, inputs).await?;
        let ok: Vec<(String, String)> = outcome
            .ok
            .iter()
            .filter_map(|(k, _)| keys.get(k).cloned())
            .collect();
        for f in outcome.failed {
            ctx.run.counts.failed += 1;
            ctx.errors.push(crate::domain::RecordError {
                direction: crate::domain::Direction::Push,
                object: ObjectKind::Visitor,
                object_id: keys.get(&f.key).map_or(f.key.clone(), |(v, _)| v.clone()),
                field: f.property,
                message: format!("rule {}: {}", rule.id, f.message),
            });
        }
        ctx.repo
            .put_rule_fingerprints(ctx.tenant, &rule.id, &ok)
            .await?;
    }
    Ok(())
}

fn describe(values: &BTreeMap<String, String>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
