//! Lifecycle automations, evaluated as a phase of every sync (after the push, so record links
//! and usage are current). Rules and their guarantees are described in [`crate::domain::RuleKind`]
//! and [`actions`].

pub(crate) mod actions;
mod adoption;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use crate::domain::{ActivityHistory, ObjectKind, Rule, RuleKind, VISITOR_ID_PROPERTY};
use crate::hubspot::WriteInput;
use crate::pendo::NpsCategory;
use crate::sync::engine::{RunCtx, Step};
use crate::sync::SyncError;
use actions::{execute, Effect};

const PAGE: usize = 200;

/// Per-rule, per-account memory: an open churn episode, the deals an expansion rule created.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RuleMemory {
    #[serde(default)]
    episode_since: Option<i32>,
    #[serde(default)]
    deal_id: Option<String>,
    #[serde(default)]
    deals_created: u32,
}

fn memory_name(rule: &Rule, object: &str) -> String {
    format!("rule:{}:{object}", rule.id)
}

pub(crate) async fn rules_step(ctx: &mut RunCtx<'_>) -> Result<Step, SyncError> {
    let set = ctx.repo.get_rules(ctx.tenant).await?;
    if set.rules.is_empty() {
        return Ok(Step::Done);
    }
    let account_rules: Vec<Rule> = set
        .rules
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                RuleKind::TrialToPaid { .. }
                    | RuleKind::ChurnRisk { .. }
                    | RuleKind::Expansion { .. }
            )
        })
        .cloned()
        .collect();
    if !account_rules.is_empty() {
        accounts(ctx, &account_rules).await?;
    }
    for rule in &set.rules {
        match &rule.kind {
            RuleKind::NpsFollowUp { .. } => nps(ctx, rule).await?,
            RuleKind::PqlRouting { .. } => pql(ctx, rule).await?,
            RuleKind::FeatureAdoption { .. } => adoption::adoption(ctx, rule).await?,
            _ => {}
        }
    }
    Ok(Step::Done)
}

/// Keeps the records linked to HubSpot, with their HubSpot id: (Pendo id, HubSpot id, value).
fn linked<T>(
    items: Vec<(String, T)>,
    states: &HashMap<String, crate::domain::ObjectState>,
) -> Vec<(String, String, T)> {
    items
        .into_iter()
        .filter_map(|(id, v)| {
            states
                .get(&id)
                .and_then(|s| s.hubspot_id.clone())
                .map(|hs| (id, hs, v))
        })
        .collect()
}

async fn owners(
    ctx: &RunCtx<'_>,
    kind: ObjectKind,
    ids: Vec<String>,
) -> Result<HashMap<String, String>, SyncError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let recs = ctx
        .hubspot
        .read_by(
            kind,
            "hs_object_id",
            &ids,
            &["hubspot_owner_id".to_string()],
        )
        .await?;
    Ok(recs
        .into_iter()
        .filter_map(|r| {
            r.prop("hubspot_owner_id")
                .map(|o| (r.id.clone(), o.to_string()))
        })
        .collect())
}

async fn accounts(ctx: &mut RunCtx<'_>, rules: &[Rule]) -> Result<(), SyncError> {
    let today = ctx.opts.today;
    if ctx.account_visitors.is_none()
        && rules
            .iter()
            .any(|r| matches!(r.kind, RuleKind::Expansion { .. }))
    {
        ctx.account_visitors = Some(ctx.pendo.account_visitor_counts().await?);
    }
    let stages = if rules
        .iter()
        .any(|r| matches!(r.kind, RuleKind::Expansion { .. }))
    {
        ctx.hubspot.deal_pipelines().await?
    } else {
        Vec::new()
    };
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .repo
            .list_activity(ctx.tenant, ObjectKind::Account, after.as_deref(), PAGE)
            .await?;
        let gens = crate::sync::reread::generations(ctx, ObjectKind::Account).await?;
        let mut page = page;
        page.items = page
            .items
            .into_iter()
            .map(|(id, h)| (id, h.current(gens)))
            .collect();
        let ids: Vec<String> = page.items.iter().map(|(id, _)| id.clone()).collect();
        let states = ctx
            .repo
            .get_object_states(ctx.tenant, ObjectKind::Account, &ids)
            .await?;
        let linked: Vec<(String, String, ActivityHistory)> = linked(page.items, &states);
        let owners = if rules
            .iter()
            .any(|r| matches!(r.kind, RuleKind::ChurnRisk { .. }))
        {
            owners(
                ctx,
                ObjectKind::Account,
                linked.iter().map(|(_, hs, _)| hs.clone()).collect(),
            )
            .await?
        } else {
            HashMap::new()
        };
        for (account, company, h) in &linked {
            for rule in rules {
                match &rule.kind {
                    RuleKind::TrialToPaid {
                        pipeline,
                        from_stage,
                        to_stage,
                        min_days_active,
                    } => {
                        if h.days_active(today) < *min_days_active {
                            continue;
                        }
                        let deal_ids = ctx
                            .hubspot
                            .associations("companies", company, "deals")
                            .await?;
                        if deal_ids.is_empty() {
                            continue;
                        }
                        let deals = ctx
                            .hubspot
                            .read_records(
                                "deals",
                                &deal_ids,
                                &["pipeline".to_string(), "dealstage".to_string()],
                            )
                            .await?;
                        for d in deals.iter().filter(|d| {
                            d.prop("pipeline") == Some(pipeline)
                                && d.prop("dealstage") == Some(from_stage)
                        }) {
                            let key = format!("ttp:{}:{}:{to_stage}", rule.id, d.id);
                            let props =
                                BTreeMap::from([("dealstage".to_string(), to_stage.clone())]);
                            execute(
                                ctx,
                                rule,
                                account,
                                &key,
                                Effect::Update {
                                    object: "deals",
                                    record: d.id.clone(),
                                    properties: props,
                                },
                            )
                            .await?;
                        }
                    }
                    RuleKind::ChurnRisk {
                        drop_percent,
                        min_prior_minutes,
                    } => {
                        let name = memory_name(rule, account);
                        let mut mem: RuleMemory = ctx
                            .repo
                            .get_cursor(ctx.tenant, &name)
                            .await?
                            .unwrap_or_default();
                        let risk = ChurnThreshold {
                            drop_percent: *drop_percent,
                            min_prior_minutes: *min_prior_minutes,
                        };
                        let at_risk = risk.at_risk(h, today);
                        if at_risk && mem.episode_since.is_none() {
                            // No stored episode: it may be lost rather than absent. The task
                            // that opened the episode carries its start day in its marker.
                            mem.episode_since =
                                open_episode(ctx, rule, account, company, h, &risk, today).await?;
                            if mem.episode_since.is_some() && !rule.dry_run && !ctx.opts.dry_run {
                                ctx.repo.put_cursor(ctx.tenant, &name, &mem).await?;
                            }
                        }
                        match (at_risk, mem.episode_since) {
                            (true, None) => {
                                let key = churn_key(rule, account, today);
                                let usage = h.usage(today);
                                let drop = -usage.trending().unwrap_or(0.0);
                                let body = format!(
                                    "Pendo usage of {account} dropped {drop:.1} % (time on app {} min in the last 180 days vs {} min before; {} active days).",
                                    usage.minutes, usage.prior_minutes, usage.days_active
                                );
                                let effect = Effect::Task {
                                    on: "companies",
                                    record: company.clone(),
                                    subject: format!("Churn risk: usage down {drop:.0} %"),
                                    body,
                                    owner: owners.get(company).cloned(),
                                };
                                execute(ctx, rule, account, &key, effect).await?;
                                if !rule.dry_run && !ctx.opts.dry_run {
                                    mem.episode_since = Some(today);
                                    ctx.repo.put_cursor(ctx.tenant, &name, &mem).await?;
                                }
                            }
                            (false, Some(_)) if !rule.dry_run && !ctx.opts.dry_run => {
                                // Recovered: the episode ends; a new drop opens a new one.
                                ctx.repo.delete_cursor(ctx.tenant, &name).await?;
                            }
                            _ => {}
                        }
                    }
                    RuleKind::Expansion {
                        min_total_visitors,
                        pipeline,
                        stage,
                    } => {
                        let total = ctx
                            .account_visitors
                            .as_ref()
                            .and_then(|m| m.get(account))
                            .copied()
                            .unwrap_or(0);
                        if total < *min_total_visitors {
                            continue;
                        }
                        let name = memory_name(rule, account);
                        let mut mem: RuleMemory =
                            match ctx.repo.get_cursor(ctx.tenant, &name).await? {
                                Some(m) => m,
                                // Lost or never written: the deals we created say which.
                                None => expansion_memory(ctx, rule, account, company).await?,
                            };
                        if let Some(deal) = &mem.deal_id {
                            let open = ctx
                                .hubspot
                                .read_records(
                                    "deals",
                                    std::slice::from_ref(deal),
                                    &["dealstage".to_string(), "pipeline".to_string()],
                                )
                                .await?
                                .first()
                                .is_some_and(|d| {
                                    let st = d.prop("dealstage").unwrap_or_default();
                                    !stages
                                        .iter()
                                        .flat_map(|p| p.stages.iter())
                                        .any(|s| s.id == st && s.is_closed())
                                });
                            if open {
                                continue;
                            }
                        }
                        let key = format!("exp:{}:{account}:{}", rule.id, mem.deals_created);
                        let effect = Effect::Deal {
                            company: company.clone(),
                            name: format!("Expansion: {account} ({total} users)"),
                            pipeline: pipeline.clone(),
                            stage: stage.clone(),
                        };
                        if let Some(deal) = execute(ctx, rule, account, &key, effect).await? {
                            mem.deal_id = Some(deal);
                            mem.deals_created += 1;
                            if !rule.dry_run && !ctx.opts.dry_run {
                                ctx.repo.put_cursor(ctx.tenant, &name, &mem).await?;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

/// When a churn-risk rule considers an account at risk.
struct ChurnThreshold {
    drop_percent: f64,
    min_prior_minutes: u64,
}

impl ChurnThreshold {
    fn at_risk(&self, h: &ActivityHistory, day: i32) -> bool {
        h.prior_minutes(day) >= self.min_prior_minutes.max(1)
            && h.trending(day).is_some_and(|t| t <= -self.drop_percent)
    }
}

/// Action key of the task that opens a churn episode starting on `day` (day number).
fn churn_key(rule: &Rule, account: &str, day: i32) -> String {
    format!("churn:{}:{account}:{day}", rule.id)
}

/// The start day of a churn episode still open today, rebuilt from HubSpot: the latest churn
/// task of this rule on the company, if the account has been at risk every day since the day in
/// its marker. `None` means a new episode starts today.
async fn open_episode(
    ctx: &RunCtx<'_>,
    rule: &Rule,
    account: &str,
    company: &str,
    h: &ActivityHistory,
    risk: &ChurnThreshold,
    today: i32,
) -> Result<Option<i32>, SyncError> {
    let prefix = format!("churn:{}:{account}:", rule.id);
    let marked = actions::find_marked(
        ctx,
        &actions::MarkedOn::tasks_of("companies", company),
        &prefix,
    )
    .await?;
    let latest = marked
        .iter()
        .filter_map(|(key, _)| key.strip_prefix(&prefix)?.parse::<i32>().ok())
        .filter(|d| *d <= today)
        .max();
    Ok(latest.filter(|start| (*start..=today).all(|d| risk.at_risk(h, d))))
}

/// An expansion rule's memory rebuilt from the deals carrying its markers on the company: the
/// latest one is the current deal, and the count continues after it.
async fn expansion_memory(
    ctx: &RunCtx<'_>,
    rule: &Rule,
    account: &str,
    company: &str,
) -> Result<RuleMemory, SyncError> {
    let prefix = format!("exp:{}:{account}:", rule.id);
    let marked = actions::find_marked(ctx, &actions::MarkedOn::deals_of(company), &prefix).await?;
    let latest = marked
        .into_iter()
        .filter_map(|(key, id)| Some((key.strip_prefix(&prefix)?.parse::<u32>().ok()?, id)))
        .max();
    Ok(match latest {
        Some((n, deal)) => RuleMemory {
            deal_id: Some(deal),
            deals_created: n + 1,
            ..RuleMemory::default()
        },
        None => RuleMemory::default(),
    })
}

async fn nps(ctx: &mut RunCtx<'_>, rule: &Rule) -> Result<(), SyncError> {
    let RuleKind::NpsFollowUp {
        escalate_detractors,
        promoter_property,
    } = &rule.kind
    else {
        return Ok(());
    };
    let cursor = format!("rule:{}:nps_ms", rule.id);
    let since: i64 = ctx.repo.get_cursor(ctx.tenant, &cursor).await?.unwrap_or(0);
    let mut newest = since;
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .repo
            .list_activity(ctx.tenant, ObjectKind::Visitor, after.as_deref(), PAGE)
            .await?;
        let gens = crate::sync::reread::generations(ctx, ObjectKind::Visitor).await?;
        let fresh: Vec<(String, crate::domain::LatestNps)> = page
            .items
            .into_iter()
            .filter_map(|(id, h)| {
                h.current(gens)
                    .nps
                    .filter(|n| n.at_ms > since)
                    .map(|n| (id, n))
            })
            .collect();
        let ids: Vec<String> = fresh.iter().map(|(id, _)| id.clone()).collect();
        let states = ctx
            .repo
            .get_object_states(ctx.tenant, ObjectKind::Visitor, &ids)
            .await?;
        let linked: Vec<(String, String, crate::domain::LatestNps)> = linked(fresh, &states);
        let detractors: Vec<String> = linked
            .iter()
            .filter(|(_, _, n)| NpsCategory::of(n.score) == NpsCategory::Detractor)
            .map(|(_, hs, _)| hs.clone())
            .collect();
        let owners = if *escalate_detractors {
            owners(ctx, ObjectKind::Visitor, detractors).await?
        } else {
            HashMap::new()
        };
        for (visitor, contact, n) in linked {
            newest = newest.max(n.at_ms);
            match NpsCategory::of(n.score) {
                NpsCategory::Detractor if *escalate_detractors => {
                    let key = format!("nps:{}:{visitor}:{}", rule.id, n.at_ms);
                    let effect = Effect::Task {
                        on: "contacts",
                        record: contact.clone(),
                        subject: format!("NPS detractor ({}): follow up", n.score),
                        body: format!(
                            "{visitor} answered {} to NPS: {}",
                            n.score,
                            n.text.as_deref().unwrap_or("(no comment)")
                        ),
                        owner: owners.get(&contact).cloned(),
                    };
                    execute(ctx, rule, &visitor, &key, effect).await?;
                }
                NpsCategory::Promoter => {
                    if let Some(prop) = promoter_property {
                        let key = format!("npsp:{}:{visitor}:{}", rule.id, n.at_ms);
                        let props = BTreeMap::from([(prop.clone(), "true".to_string())]);
                        execute(
                            ctx,
                            rule,
                            &visitor,
                            &key,
                            Effect::Update {
                                object: "contacts",
                                record: contact,
                                properties: props,
                            },
                        )
                        .await?;
                    }
                }
                _ => {}
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    if newest > since && !rule.dry_run && !ctx.opts.dry_run {
        ctx.repo.put_cursor(ctx.tenant, &cursor, &newest).await?;
    }
    Ok(())
}

/// Segment members become contacts with the configured lifecycle stage: linked ones are
/// updated, others found or created through upsert on `pendo_visitor_id` (never a duplicate).
async fn pql(ctx: &mut RunCtx<'_>, rule: &Rule) -> Result<(), SyncError> {
    let RuleKind::PqlRouting {
        segment_id,
        lifecycle_stage,
        owner_id,
    } = &rule.kind
    else {
        return Ok(());
    };
    let members = ctx.pendo.segment_members(segment_id).await?;
    for chunk in members.chunks(100) {
        let states = ctx
            .repo
            .get_object_states(ctx.tenant, ObjectKind::Visitor, chunk)
            .await?;
        let mut props = BTreeMap::from([("lifecyclestage".to_string(), lifecycle_stage.clone())]);
        if let Some(o) = owner_id {
            props.insert("hubspot_owner_id".into(), o.clone());
        }
        let mut unlinked = Vec::new();
        for visitor in chunk {
            if states.get(visitor).is_some_and(|s| s.do_not_process) {
                // Pendo's GDPR flag: never updated, never created (sync::privacy).
                continue;
            }
            let key = format!("pql:{}:{visitor}", rule.id);
            match states.get(visitor).and_then(|s| s.hubspot_id.clone()) {
                Some(contact) => {
                    execute(
                        ctx,
                        rule,
                        visitor,
                        &key,
                        Effect::Update {
                            object: "contacts",
                            record: contact,
                            properties: props.clone(),
                        },
                    )
                    .await?;
                }
                None => unlinked.push((visitor.clone(), key)),
            }
        }
        if unlinked.is_empty() {
            continue;
        }
        if rule.dry_run || ctx.opts.dry_run {
            for (visitor, _) in &unlinked {
                actions::record(ctx, rule, visitor, format!("find or create contact for {visitor} with lifecyclestage={lifecycle_stage}"), None, true);
            }
            continue;
        }
        let mut todo = Vec::new();
        for (visitor, key) in unlinked {
            if !matches!(
                ctx.repo.claim_action(ctx.tenant, &key).await?,
                crate::store::repo::ActionClaim::Done(_)
            ) {
                todo.push((visitor, key));
            }
        }
        if todo.is_empty() {
            continue;
        }
        let inputs = todo
            .iter()
            .map(|(v, _)| WriteInput {
                key: v.clone(),
                properties: props.clone(),
            })
            .collect();
        let outcome = ctx
            .hubspot
            .upsert(ObjectKind::Visitor, VISITOR_ID_PROPERTY, inputs)
            .await?;
        let keys: HashMap<String, String> = todo.into_iter().collect();
        let mut linked_states = Vec::new();
        for (visitor, contact) in outcome.ok {
            if let Some(key) = keys.get(&visitor) {
                ctx.repo.complete_action(ctx.tenant, key, &contact).await?;
                actions::record(
                    ctx,
                    rule,
                    &visitor,
                    format!("find or create contact with lifecyclestage={lifecycle_stage}"),
                    Some(contact.clone()),
                    false,
                );
                let mut st = states.get(&visitor).cloned().unwrap_or_default();
                st.hubspot_id = Some(contact);
                st.unmatched_day = None;
                linked_states.push((visitor, st));
            }
        }
        for f in outcome.failed {
            ctx.run.counts.failed += 1;
            ctx.errors.push(crate::domain::RecordError {
                direction: crate::domain::Direction::Push,
                object: ObjectKind::Visitor,
                object_id: f.key,
                field: f.property,
                message: format!("rule {}: {}", rule.id, f.message),
            });
        }
        ctx.repo
            .put_object_states(ctx.tenant, ObjectKind::Visitor, &linked_states)
            .await?;
    }
    Ok(())
}

/// The marker a created task or deal carries (exposed for tests that simulate interruptions).
pub fn marker_for_tests(key: &str) -> String {
    actions::marker(key)
}
