// The setup wizard: one screen per step, resumable at any step (the URL names the step; with
// none, the first step not done yet is opened).
import { call, tenantPath } from './api.js';
import { h, field, select, button, announce, errorBox, badge, fmtTime, nextId, scroller, fill, put } from './ui.js';

export const STEPS = [
  ['pendo', 'Pendo key'],
  ['hubspot', 'Connect HubSpot'],
  ['map', 'Map objects'],
  ['pull', 'Pull'],
  ['push', 'Push'],
  ['rules', 'Lifecycle rules'],
  ['events', 'Product events'],
  ['segments', 'Segments'],
  ['review', 'Review & dry run'],
  ['enable', 'Enable'],
];
const REGIONS = [['us', 'US (app.pendo.io)'], ['us1', 'US1 (us1.app.pendo.io)'], ['eu', 'EU (app.eu.pendo.io)'],
  ['jp', 'Japan (app.jpn.pendo.io)'], ['au', 'Australia (app.au.pendo.io)']];
const OURS = { visitor: 'pendo_visitor_id', account: 'pendo_account_id' };

const progressKey = (id) => `wizard:${id}`;
const reached = (id) => Number(localStorage.getItem(progressKey(id)) || 0);
const reach = (id, i) => localStorage.setItem(progressKey(id), String(Math.max(reached(id), i)));

const cache = new Map();
async function catalog(id, side) {
  const k = `${id}:${side}`;
  if (!cache.has(k)) cache.set(k, await call('GET', tenantPath(id, `/${side}/schema`)));
  return cache.get(k);
}

export async function wizard(ctx, id, step) {
  const [tenant, status] = await Promise.all([
    call('GET', tenantPath(id)),
    call('GET', tenantPath(id, '/status')),
  ]);
  const connected = status.pendo_connected && status.hubspot_connected;
  const allowed = (name) => name === 'pendo' || (name === 'hubspot' && status.pendo_connected) || connected;
  if (!step || !STEPS.some(([n]) => n === step) || !allowed(step)) {
    let resume = 'pendo';
    if (status.pendo_connected) resume = 'hubspot';
    if (connected) resume = STEPS[Math.min(Math.max(reached(id), 2), STEPS.length - 1)][0];
    if (tenant.status === 'enabled') resume = 'enable';
    ctx.go(`#/t/${encodeURIComponent(id)}/setup/${resume}`);
    return;
  }
  const index = STEPS.findIndex(([n]) => n === step);
  const stepper = h('ol', { class: 'stepper' }, STEPS.map(([name, label], i) => {
    const text = [h('span', { class: 'num', 'aria-hidden': 'true' }, String(i + 1)), ' ', label];
    const current = name === step;
    return h('li', { class: current ? 'current' : (allowed(name) ? '' : 'locked') },
      allowed(name)
        ? h('a', { href: `#/t/${encodeURIComponent(id)}/setup/${name}`, 'aria-current': current ? 'step' : false }, text)
        : h('span', { 'aria-disabled': 'true' }, text));
  }));
  const body = h('div', { class: 'step-body' });
  const next = (name) => {
    reach(id, STEPS.findIndex(([n]) => n === name));
    ctx.go(`#/t/${encodeURIComponent(id)}/setup/${name}`);
  };
  const back = index > 0
    ? h('a', { class: 'btn', href: `#/t/${encodeURIComponent(id)}/setup/${STEPS[index - 1][0]}` }, 'Back')
    : null;
  ctx.main.replaceChildren(
    h('p', { class: 'crumb' }, `${tenant.display_name} · setup`),
    h('h1', {}, `Step ${index + 1} of ${STEPS.length}: ${STEPS[index][1]}`),
    h('nav', { 'aria-label': 'Setup steps' }, stepper),
    h('section', { class: 'card' }, body),
  );
  const env = { ctx, id, tenant, status, body, next, back };
  await ({ pendo, hubspot, map, pull, push, rules, events, segments, review, enable })[step](env);
}

function actions(...items) {
  return h('div', { class: 'actions' }, items);
}

/** A form whose submit runs `save`; errors are shown above the buttons. */
function form(env, children, save, label = 'Save and continue') {
  const err = h('div', { class: 'form-error' });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, label);
  const f = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      err.replaceChildren();
      submit.disabled = true;
      submit.setAttribute('aria-busy', 'true');
      try {
        await save();
      } catch (x) {
        err.replaceChildren(errorBox(x));
        const bad = x.field && f.querySelector(`[data-field="${CSS.escape(x.field)}"]`);
        (bad || err).focus?.();
      } finally {
        submit.disabled = false;
        submit.removeAttribute('aria-busy');
      }
    },
  }, children, err, actions(env.back, submit));
  return f;
}

async function pendo(env) {
  const region = select(REGIONS, env.tenant.pendo_region, { name: 'region', 'data-field': 'region' });
  const key = h('input', { type: 'password', name: 'integration_key', autocomplete: 'off', required: !env.status.pendo_connected, 'data-field': 'integration_key', maxlength: '512' });
  const saved = env.status.pendo_connected
    ? h('p', { class: 'msg ok' }, 'A verified key is saved. Enter a new one only to replace it.')
    : '';
  fill(env.body, 
    h('p', {}, 'Create an integration key in Pendo under Settings → Integrations → Integration Keys, with "Allow Write Access" on (the sync writes HubSpot fields into Pendo metadata). The key is verified with Pendo, then kept only in the secrets store.'),
    saved,
    form(env, [
      field('Pendo region', region, 'The data centre of your Pendo subscription; a key works only in its own region.'),
      field('Integration key', key),
    ], async () => {
      if (!key.value.trim() && env.status.pendo_connected) return env.next('hubspot');
      await call('PUT', tenantPath(env.id, '/pendo'), { region: region.value, integration_key: key.value });
      cache.clear();
      announce('Pendo key verified: it can read and write.', 'ok');
      env.next('hubspot');
    }, 'Verify and continue'),
  );
}

async function hubspot(env) {
  const { status } = env;
  const info = h('div');
  const render = (s) => info.replaceChildren(s.hubspot_connected
    ? h('p', { class: 'msg ok', id: 'portal' }, `Connected to HubSpot portal ${s.hubspot_portal_id}.`)
    : h('p', {}, 'Not connected yet. Connecting opens HubSpot in a new window, where you approve access for the sync.'));
  render(status);
  const err = h('div');
  const connect = button(status.hubspot_connected ? 'Reconnect HubSpot' : 'Connect HubSpot', async () => {
    err.replaceChildren();
    try {
      const before = await call('GET', tenantPath(env.id, '/status'));
      const r = await call('POST', tenantPath(env.id, '/hubspot/connect'), status.hubspot_connected ? { reconnect: true } : {});
      const popup = window.open(r.authorize_url, 'hubspot-connect', 'popup=yes,width=560,height=720');
      if (!popup) {
        err.replaceChildren(h('p', { class: 'msg' }, 'Your browser blocked the window. ',
          h('a', { href: r.authorize_url, target: '_blank', rel: 'noopener' }, 'Open HubSpot\'s consent page'), ', then come back here.'));
      }
      announce('Waiting for HubSpot…');
      const started = Date.now();
      const t = env.ctx.every(1000, async () => {
        const s = await call('GET', tenantPath(env.id, '/status'));
        const changed = s.hubspot_connected && (!before.hubspot_connected || s.hubspot_portal_id !== before.hubspot_portal_id
          || Date.now() - started > 3000 && popup && popup.closed);
        if (changed) {
          clearInterval(t);
          if (popup && !popup.closed) popup.close();
          cache.clear();
          render(s);
          announce(`HubSpot portal ${s.hubspot_portal_id} connected.`, 'ok');
          cont.hidden = false;
          cont.focus();
        } else if (Date.now() - started > 10 * 60 * 1000) {
          clearInterval(t);
        }
      });
    } catch (x) {
      err.replaceChildren(errorBox(x));
    }
  }, { class: status.hubspot_connected ? 'btn' : 'btn primary' });
  const cont = button('Continue', () => env.next('map'), { class: 'btn primary', hidden: !status.hubspot_connected });
  fill(env.body, info, err, actions(env.back, connect, cont));
}

function propOptions(props, ours) {
  const list = props.map((p) => [p.name, `${p.name} (${p.type}${p.unique ? ', unique' : ''})`]);
  if (ours && !props.some((p) => p.name === ours)) list.unshift([ours, `${ours} (string, unique; created by the sync)`]);
  return list;
}

async function map(env) {
  const [hs, pd, config] = await Promise.all([catalog(env.id, 'hubspot'), catalog(env.id, 'pendo'),
    call('GET', tenantPath(env.id, '/config'))]);
  const contact = select(propOptions(hs.contact_properties, OURS.visitor), config.join.contact_property, { 'data-field': 'join.contact_property' });
  const company = select(propOptions(hs.company_properties, OURS.account), config.join.company_property, { 'data-field': 'join.company_property' });
  const byEmail = h('input', { type: 'checkbox', checked: config.identity.match_contacts_by_email });
  const create = h('input', { type: 'checkbox', checked: config.identity.create_missing_contacts });
  const domain = select([['', 'None'], ...pd.account_fields.map((f) => [f.name, `${f.name} (${f.type})`])],
    config.identity.account_domain_field || '', { 'data-field': 'identity.account_domain_field' });
  fill(env.body, 
    h('p', {}, `Each Pendo visitor is joined to a HubSpot contact, and each account to a company, by a property whose values are the Pendo ids. Portal ${hs.portal_id ?? ''}.`),
    form(env, [
      h('fieldset', {}, h('legend', {}, 'Join keys'),
        field('Contact property holding the Pendo visitor id', contact),
        field('Company property holding the Pendo account id', company)),
      h('fieldset', {}, h('legend', {}, 'Records without the join key'),
        h('div', { class: 'check' }, byEmail, h('label', { for: byEmail.id = nextId() }, 'Match visitors to contacts by e-mail address')),
        field('Pendo account field holding a domain, to match companies by domain', domain),
        h('div', { class: 'check' }, create, h('label', { for: create.id = nextId() }, 'Create contacts for visitors with no match'))),
    ], async () => {
      await saveConfig(env, config, {
        join: { contact_property: contact.value, company_property: company.value },
        identity: { match_contacts_by_email: byEmail.checked, account_domain_field: domain.value || null, create_missing_contacts: create.checked },
      });
      env.next('pull');
    }),
  );
}

async function saveConfig(env, config, patch) {
  const body = { ...config, ...patch };
  const saved = await call('PUT', tenantPath(env.id, '/config'), body);
  announce('Saved.', 'ok');
  return saved;
}

async function pull(env) {
  const [hs, pd, config] = await Promise.all([catalog(env.id, 'hubspot'), catalog(env.id, 'pendo'),
    call('GET', tenantPath(env.id, '/config'))]);
  const pushed = new Set(pd.push_fields.map((f) => f.property).concat(Object.values(OURS)));
  const rows = h('div', { class: 'rows' });
  const propsOf = (o) => (o === 'visitor' ? hs.contact_properties : hs.company_properties).filter((p) => !pushed.has(p.name));
  const fieldsOf = (o) => (o === 'visitor' ? pd.visitor_fields : pd.account_fields);
  const row = (m, i) => {
    const object = select([['visitor', 'Contact → Pendo visitor'], ['account', 'Company → Pendo account']], m.object, { 'data-field': `pull[${i}].object` });
    const prop = h('select', { 'data-field': `pull[${i}].hubspot_property` });
    const target = h('select', { 'data-field': `pull[${i}].pendo_field` });
    const becomes = h('p', { class: 'hint' });
    const fill = () => {
      prop.replaceChildren(...propsOf(object.value).map((p) => h('option', { value: p.name, selected: p.name === m.hubspot_property }, `${p.name} (${p.type})`)));
      target.replaceChildren(...fieldsOf(object.value).map((f) => h('option', { value: f.name, selected: f.name === m.pendo_field }, `${f.name} (${f.type})`)));
      hint();
    };
    const hint = () => {
      const f = fieldsOf(object.value).find((x) => x.name === target.value);
      becomes.textContent = f ? `HubSpot ${prop.value} becomes Pendo ${object.value} field "${f.name}" (${f.type}).` : 'This Pendo object has no custom fields yet: create them in Pendo under Settings → Data Mappings.';
    };
    object.addEventListener('change', fill);
    target.addEventListener('change', hint);
    prop.addEventListener('change', hint);
    fill();
    const el = h('fieldset', { class: 'row' }, h('legend', {}, `Mapping ${i + 1}`),
      field('Direction', object), field('HubSpot property', prop), field('Pendo field', target), becomes,
      button('Remove', () => { el.remove(); }, { class: 'btn link', 'aria-label': `Remove mapping ${i + 1}` }));
    el.read = () => ({ object: object.value, hubspot_property: prop.value, pendo_field: target.value });
    return el;
  };
  config.pull.forEach((m, i) => rows.append(row(m, i)));
  const add = button('Add a mapping', () => {
    const el = row({ object: 'visitor' }, rows.children.length);
    rows.append(el);
    el.querySelector('select').focus();
  });
  fill(env.body, 
    h('p', {}, 'Pull copies HubSpot properties into Pendo custom metadata (Pendo segments and guides can then use them). Only properties the push does not write can be pulled: a field syncs one way.'),
    form(env, [rows, actions(add)], async () => {
      const mappings = [...rows.children].map((r) => r.read()).filter((m) => m.hubspot_property && m.pendo_field);
      await saveConfig(env, config, { pull: mappings });
      env.next('push');
    }),
  );
}

async function push(env) {
  const [pd, config] = await Promise.all([catalog(env.id, 'pendo'), call('GET', tenantPath(env.id, '/config'))]);
  const chosen = new Set(config.push_fields);
  const boxes = [];
  const group = (name, title) => h('fieldset', {}, h('legend', {}, title),
    pd.push_fields.filter((f) => f.group === name).map((f) => {
      const box = h('input', { type: 'checkbox', id: nextId(), checked: chosen.has(f.field), value: f.field });
      boxes.push(box);
      const on = f.objects.length === 2 ? 'contacts and companies' : 'companies';
      return h('div', { class: 'check' }, box, h('label', { for: box.id }, f.label,
        h('span', { class: 'hint' }, ` → HubSpot property ${f.property} (${f.type}) in the "Pendo" group, on ${on}`)));
    }));
  const nps = config.nps || {};
  const guide = h('input', { type: 'text', value: nps.guide_id || '', 'data-field': 'nps.guide_id' });
  const score = h('input', { type: 'text', value: nps.score_poll_id || '', 'data-field': 'nps.score_poll_id' });
  const text = h('input', { type: 'text', value: nps.text_poll_id || '' });
  const hour = select([...Array(24).keys()].map((i) => [String(i), `${String(i).padStart(2, '0')}:00 UTC`]), String(config.schedule.hour_utc), { 'data-field': 'schedule.hour_utc' });
  fill(env.body, 
    h('p', {}, 'Push writes Pendo usage and NPS into HubSpot. The sync creates each property in a "Pendo" property group the first time (on enable).'),
    form(env, [
      group('usage', 'Usage'),
      group('nps', 'NPS'),
      h('fieldset', {}, h('legend', {}, 'NPS survey (optional)'),
        field('NPS guide id', guide), field('Score poll id', score), field('Text follow-up poll id (optional)', text)),
      field('Daily sync at', hour),
    ], async () => {
      await saveConfig(env, config, {
        push_fields: boxes.filter((b) => b.checked).map((b) => b.value),
        nps: guide.value.trim() ? { guide_id: guide.value.trim(), score_poll_id: score.value.trim(), text_poll_id: text.value.trim() || null } : null,
        schedule: { hour_utc: Number(hour.value) },
      });
      env.next('rules');
    }),
  );
}

const RULE_TYPES = [
  ['trial_to_paid', 'Trial → paid: move the open deal when engagement crosses a threshold'],
  ['churn_risk', 'Churn risk: a task for the company owner when usage drops'],
  ['nps_follow_up', 'NPS follow-up: escalate detractors, mark promoters'],
  ['pql_routing', 'PQL routing: Pendo segment members become contacts with a lifecycle stage'],
  ['expansion', 'Expansion: a deal for accounts above a size'],
  ['feature_adoption', 'Feature adoption: usage counts and an onboarding checklist on contacts'],
];

async function rules(env) {
  const [hs, pd, current] = await Promise.all([catalog(env.id, 'hubspot'), catalog(env.id, 'pendo'),
    call('GET', tenantPath(env.id, '/rules'))]);
  const list = h('div', { class: 'rows' });
  const pipelines = hs.deal_pipelines.map((p) => [p.id, p.label]);
  const stagesOf = (pid) => (hs.deal_pipelines.find((p) => p.id === pid)?.stages || []).map((s) => [s.id, s.label]);
  const card = (r) => {
    const i = list.children.length;
    const id = h('input', { type: 'text', value: r.id || `${r.type.replace(/_/g, '-')}-${i + 1}`, pattern: '[a-z0-9-]{1,40}', 'data-field': `rules[${i}].id` });
    const dry = h('input', { type: 'checkbox', id: nextId(), checked: r.dry_run ?? true });
    const parts = [];
    const read = [];
    const num = (label, key, v, attrs = {}) => {
      const el = h('input', { type: 'number', value: v ?? '', 'data-field': `rules[${i}].${key}`, ...attrs });
      parts.push(field(label, el));
      read.push((o) => { o[key] = Number(el.value); });
    };
    const sel = (label, key, options, v, optional) => {
      const el = select(optional ? [['', 'None'], ...options] : options, v ?? '', { 'data-field': `rules[${i}].${key}` });
      parts.push(field(label, el));
      read.push((o) => { if (el.value || !optional) o[key] = el.value; });
      return el;
    };
    const stageSelects = (pipelineKey, keys, labels) => {
      const p = sel('Deal pipeline', pipelineKey, pipelines, r[pipelineKey]);
      const ss = keys.map((k, n) => sel(labels[n], k, stagesOf(p.value), r[k]));
      p.addEventListener('change', () => ss.forEach((s) => s.replaceChildren(...stagesOf(p.value).map(([v, t]) => h('option', { value: v }, t)))));
    };
    switch (r.type) {
      case 'trial_to_paid':
        stageSelects('pipeline', ['from_stage', 'to_stage'], ['From stage', 'To stage']);
        num('Minimum days active (of 180)', 'min_days_active', r.min_days_active ?? 10, { min: 1, max: 180 });
        break;
      case 'churn_risk':
        num('Usage drop (%)', 'drop_percent', r.drop_percent ?? 30, { min: 1, max: 100, step: 'any' });
        num('Ignore accounts with fewer prior minutes than', 'min_prior_minutes', r.min_prior_minutes ?? 0, { min: 0 });
        break;
      case 'nps_follow_up': {
        const esc = h('input', { type: 'checkbox', id: nextId(), checked: r.escalate_detractors ?? true });
        parts.push(h('div', { class: 'check' }, esc, h('label', { for: esc.id }, 'Escalation task for detractors (0–6)')));
        read.push((o) => { o.escalate_detractors = esc.checked; });
        sel('Contact property set on promoters (9–10)', 'promoter_property', hs.contact_properties.map((p) => [p.name, `${p.name} (${p.type})`]), r.promoter_property, true);
        break;
      }
      case 'pql_routing':
        sel('Pendo segment', 'segment_id', pd.segments.map((s) => [s.id, s.name]), r.segment_id);
        sel('Lifecycle stage', 'lifecycle_stage', hs.lifecycle_stages, r.lifecycle_stage);
        if (hs.owners.length) {
          // The portal's owners by name; the value is the owner id HubSpot's hubspot_owner_id takes.
          const names = hs.owners.map((o) => [o.id, [o.first_name, o.last_name].filter(Boolean).join(' ') + (o.email ? ` (${o.email})` : '')]);
          sel('Owner of new contacts (optional)', 'owner_id', names, r.owner_id, true);
        } else {
          const owner = h('input', { type: 'text', value: r.owner_id || '', 'data-field': `rules[${i}].owner_id` });
          parts.push(field('Owner id (optional)', owner, hs.owners_unavailable
            ? `The HubSpot owner given to new contacts. The list of owners could not be read (${hs.owners_unavailable}); type the owner id.`
            : 'The HubSpot owner given to new contacts.'));
          read.push((o) => { if (owner.value.trim()) o.owner_id = owner.value.trim(); });
        }
        break;
      case 'expansion':
        num('Minimum total visitors', 'min_total_visitors', r.min_total_visitors ?? 25, { min: 1 });
        stageSelects('pipeline', ['stage'], ['Deal stage']);
        break;
      case 'feature_adoption': {
        num('Usage window (days)', 'window_days', r.window_days ?? 30, { min: 1, max: 180 });
        const features = pd.features.map((f) => [f.id, f.name]);
        const propsOfType = (types) => hs.contact_properties.filter((p) => types.includes(p.type)).map((p) => [p.name, `${p.name} (${p.type})`]);
        const countRows = h('div', { class: 'rows' });
        const countRow = (c) => {
          const j = countRows.children.length;
          const f = select(features, c.feature_id, { 'data-field': `rules[${i}].counts[${j}].feature_id` });
          const p = select(propsOfType(['number']), c.property, { 'data-field': `rules[${i}].counts[${j}].property` });
          const el = h('div', { class: 'pair' }, field('Feature', f), field('Contact number property for its count', p),
            button('Remove count', () => el.remove(), { class: 'btn link' }));
          el.read = () => ({ feature_id: f.value, property: p.value });
          return el;
        };
        (r.counts || []).forEach((c) => countRows.append(countRow(c)));
        parts.push(h('fieldset', { class: 'wide' }, h('legend', {}, 'Feature usage counts'), countRows,
          button('Add a feature count', () => countRows.append(countRow({})))));
        const m = r.milestones;
        const on = h('input', { type: 'checkbox', id: nextId(), checked: !!m });
        const steps = h('select', { multiple: true, size: String(Math.min(6, Math.max(2, features.length))), 'data-field': `rules[${i}].milestones.steps` },
          features.map(([v, t]) => h('option', { value: v, selected: !!m && m.steps.includes(v) }, t)));
        const prop = select(propsOfType(['string', 'enumeration']), m?.property, { 'data-field': `rules[${i}].milestones.property` });
        const done = select(propsOfType(['date', 'datetime']), m?.completed_property, { 'data-field': `rules[${i}].milestones.completed_property` });
        parts.push(h('fieldset', { class: 'wide' }, h('legend', {}, 'Onboarding checklist'),
          h('div', { class: 'check' }, on, h('label', { for: on.id }, 'Track an ordered checklist of features')),
          field('Steps, in the order listed (select several)', steps),
          field('Contact text property for the progress ("2 of 4")', prop),
          field('Contact date property for the day it was completed', done)));
        read.push((o) => {
          o.counts = [...countRows.children].map((c) => c.read());
          if (on.checked) o.milestones = { steps: [...steps.selectedOptions].map((x) => x.value), property: prop.value, completed_property: done.value };
        });
        break;
      }
      default:
        parts.push(h('p', { class: 'hint' }, 'This rule is kept as it is; edit it through the API.'));
        read.push((o) => Object.assign(o, r));
    }
    const title = RULE_TYPES.find(([t]) => t === r.type)?.[1] || r.type;
    const el = h('fieldset', { class: 'row rule' }, h('legend', {}, title), field('Rule id', id), parts,
      h('div', { class: 'check' }, dry, h('label', { for: dry.id }, 'Dry run: report what it would do, do nothing')),
      button('Remove rule', () => el.remove(), { class: 'btn link' }));
    el.read = () => {
      const o = { type: r.type };
      read.forEach((f) => f(o));
      o.id = id.value.trim();
      o.dry_run = dry.checked;
      return o;
    };
    return el;
  };
  current.rules.forEach((r) => list.append(card(r)));
  const type = select(RULE_TYPES, 'churn_risk', { id: nextId() });
  const add = button('Add rule', () => {
    const el = card({ type: type.value });
    list.append(el);
    el.querySelector('input, select').focus();
  });
  fill(env.body, 
    h('p', {}, 'Rules act in HubSpot during each sync. New rules start in dry-run mode: the run shows what they would do.'),
    form(env, [list, h('div', { class: 'add-rule' }, field('New rule', type), add)], async () => {
      await call('PUT', tenantPath(env.id, '/rules'), { rules: [...list.children].map((c) => c.read()) });
      announce('Rules saved.', 'ok');
      env.next('events');
    }),
  );
}

const EVENT_SOURCES = [['page', 'Pages', 'pages'], ['feature', 'Features', 'features'], ['track', 'Track events', 'track_types']];

/** Pendo pages, features and track events sent to HubSpot as custom events (Enterprise only). */
async function events(env) {
  const [pd, config] = await Promise.all([catalog(env.id, 'pendo'), call('GET', tenantPath(env.id, '/config'))]);
  const ev = config.events || { items: [], backfill_days: 30, monthly_limit: 30000000, stop_at_percent: 90 };
  const chosen = new Map(ev.items.map((i) => [`${i.source}:${i.id}`, i]));
  const picks = [];
  const groups = EVENT_SOURCES.map(([source, title, key]) => h('fieldset', {}, h('legend', {}, title),
    (pd[key] || []).length === 0 ? h('p', { class: 'hint' }, 'None tagged in this subscription.') : null,
    (pd[key] || []).map((item, j) => {
      const was = chosen.get(`${source}:${item.id}`);
      const box = h('input', { type: 'checkbox', id: nextId(), checked: !!was });
      const props = source === 'track'
        ? h('input', { type: 'text', value: was ? was.properties.join(', ') : '', 'data-field': `events.items[${j}].properties` })
        : null;
      picks.push(() => box.checked && {
        source, id: item.id,
        properties: props ? props.value.split(',').map((p) => p.trim()).filter(Boolean) : [],
      });
      return h('div', {},
        h('div', { class: 'check' }, box, h('label', { for: box.id }, item.name || item.id, h('span', { class: 'hint' }, ` (${item.id})`))),
        props ? field(`Properties of ${item.name || item.id} to send (comma-separated)`, props) : null);
    })));
  const backfill = h('input', { type: 'number', min: '1', max: '90', value: String(ev.backfill_days), 'data-field': 'events.backfill_days' });
  const share = h('input', { type: 'number', min: '1', max: '100', value: String(ev.stop_at_percent), 'data-field': 'events.stop_at_percent' });
  const limit = h('input', { type: 'number', min: '1', value: String(ev.monthly_limit), 'data-field': 'events.monthly_limit' });
  const state = env.status.events
    ? h('p', { class: `msg ${env.status.events.state === 'sending' ? 'ok' : 'error'}` }, env.status.events.message)
    : null;
  fill(env.body,
    h('p', {}, 'Chosen Pendo events reach HubSpot as custom events on the contact: one per visitor and day with the count (pendo_event_count). HubSpot needs an Enterprise tier for custom events; without it the status says so and everything else keeps syncing.'),
    state,
    form(env, [
      ...groups,
      field('Days of history sent when an event is first chosen', backfill),
      field('Monthly custom event completions of the portal', limit),
      field('Stop sending at this share of it (%)', share),
    ], async () => {
      const items = picks.map((p) => p()).filter(Boolean);
      await saveConfig(env, config, {
        events: items.length ? { items, backfill_days: Number(backfill.value), monthly_limit: Number(limit.value), stop_at_percent: Number(share.value) } : null,
      });
      env.next('segments');
    }),
  );
}

/** Pendo segments followed by a HubSpot static list and/or a boolean contact property. */
async function segments(env) {
  const [hs, pd, config] = await Promise.all([catalog(env.id, 'hubspot'), catalog(env.id, 'pendo'),
    call('GET', tenantPath(env.id, '/config'))]);
  const mapped = new Map((config.segments || []).map((m) => [m.segment_id, m]));
  const bools = hs.contact_properties.filter((p) => p.type === 'bool' || p.type === 'enumeration');
  const rows = pd.segments.map((seg, i) => {
    const m = mapped.get(seg.id) || {};
    const list = h('input', { type: 'text', value: m.list_name || '', placeholder: `Pendo: ${seg.name}`, 'data-field': `segments[${i}].list_name`, maxlength: '100' });
    const prop = select([['', '(none)'], ...bools.map((p) => [p.name, `${p.name} (${p.type})`])], m.contact_property || '', { 'data-field': `segments[${i}].contact_property` });
    const on = h('input', { type: 'checkbox', id: nextId(), checked: mapped.has(seg.id) });
    const el = h('fieldset', {}, h('legend', {}, seg.name),
      h('div', { class: 'check' }, on, h('label', { for: on.id }, `Follow ${seg.name} in HubSpot`)),
      field(`Static list for ${seg.name}`, list), field(`Boolean contact property for ${seg.name}`, prop));
    el.read = () => on.checked && {
      segment_id: seg.id,
      list_name: list.value.trim() || null,
      contact_property: prop.value || null,
    };
    return el;
  });
  fill(env.body,
    h('p', {}, 'A followed segment keeps a HubSpot static contact list and/or a boolean contact property in step with its members: each sync adds those who joined and removes those who left. Visitors flagged "do not process" in Pendo are never added.'),
    pd.segments.length === 0 ? h('p', { class: 'hint' }, 'This subscription has no segments.') : null,
    form(env, rows, async () => {
      const picked = rows.map((r) => r.read()).filter(Boolean)
        .map((m) => (m.list_name || m.contact_property ? m : { ...m, list_name: `Pendo: ${pd.segments.find((s) => s.id === m.segment_id).name}` }));
      await saveConfig(env, config, { segments: picked });
      env.next('review');
    }),
  );
}

async function review(env) {
  const [config, ruleSet] = await Promise.all([call('GET', tenantPath(env.id, '/config')), call('GET', tenantPath(env.id, '/rules'))]);
  const out = h('div', { id: 'dry-run-result' });
  const dl = h('dl', { class: 'summary' },
    h('dt', {}, 'Join keys'), h('dd', {}, `contacts.${config.join.contact_property} = visitor id; companies.${config.join.company_property} = account id`),
    h('dt', {}, 'Pull'), h('dd', {}, config.pull.length ? config.pull.map((m) => `${m.hubspot_property} → ${m.pendo_field}`).join(', ') : 'nothing'),
    h('dt', {}, 'Push'), h('dd', {}, `${config.push_fields.length} fields`),
    h('dt', {}, 'Rules'), h('dd', {}, ruleSet.rules.length ? ruleSet.rules.map((r) => `${r.id}${r.dry_run ? ' (dry run)' : ''}`).join(', ') : 'none'),
    h('dt', {}, 'Daily sync'), h('dd', {}, `${String(config.schedule.hour_utc).padStart(2, '0')}:00 UTC`));
  const run = button('Run a dry run', async () => {
    run.disabled = true;
    out.replaceChildren(h('p', {}, 'Reading both systems…'));
    try {
      const r = await call('POST', tenantPath(env.id, '/dry-run'));
      const rows = r.would_write.slice(0, 20);
      out.replaceChildren(
        h('p', {}, `A sync would push ${r.counts.pushed} and pull ${r.counts.pulled} records (${r.counts.unchanged} unchanged). The first ${rows.length}:`),
        scroller(h('table', {}, h('caption', {}, 'Records a sync would change: what the target holds now, and what the sync would write'),
          h('thead', {}, h('tr', {}, ['Record', 'Field', 'Now', 'Would write'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, rows.flatMap((w) => {
            const shown = (v) => (v === null || v === undefined ? '(empty)' : String(v));
            const entries = Object.entries(w.values);
            const who = `${w.direction === 'push' ? 'HubSpot' : 'Pendo'} ${w.object === 'visitor' ? (w.direction === 'push' ? 'contact' : 'visitor') : (w.direction === 'push' ? 'company' : 'account')} ${w.id}`;
            return entries.map(([k, v], n) => {
              const now = w.current ? shown(w.current[k]) : 'not read';
              const changed = !w.current || shown(w.current[k]) !== shown(v);
              return h('tr', { class: changed ? 'changed' : 'same' },
                n === 0 ? h('th', { scope: 'rowgroup', rowspan: String(entries.length) }, who) : null,
                h('td', {}, h('code', {}, k)), h('td', {}, now), h('td', {}, v === null ? '(cleared)' : String(v)));
            });
          })))));
      announce('Dry run finished; nothing was written.', 'ok');
    } catch (x) {
      out.replaceChildren(errorBox(x));
    } finally {
      run.disabled = false;
    }
  }, { class: 'btn' });
  fill(env.body, h('p', {}, 'Check the set-up, and see what the first sync would write before anything is written.'), dl,
    actions(run), out, actions(env.back, button('Continue', () => env.next('enable'), { class: 'btn primary' })));
}

async function enable(env) {
  const live = h('div', { class: 'live', 'aria-live': 'polite' });
  const watch = (since) => {
    const tick = async () => {
      const page = await call('GET', tenantPath(env.id, '/runs?limit=1'));
      const run = page.items[0];
      if (!run || (since && run.started_at < since)) {
        put(live, h('p', {}, 'Waiting for the worker to start the first sync…'), h('progress', { 'aria-label': 'First sync' }));
        return;
      }
      const c = run.counts;
      const done = run.status !== 'running';
      put(live, 
        h('p', {}, 'First sync: ', badge(run.status), ` · started ${fmtTime(run.started_at)}`),
        done ? null : h('progress', { 'aria-label': 'First sync' }),
        done || !(run.phases || []).length ? null : h('p', { class: 'hint' },
          `Phases done or under way: ${run.phases.map((p) => p.phase.replace(':', ' · ')).join(', ')}`),
        h('ul', { class: 'counts' }, ['pushed', 'pulled', 'unchanged', 'failed'].map((k) => h('li', {}, h('strong', {}, String(c[k])), ` ${k}`))),
        done ? h('p', { class: run.status === 'failed' ? 'msg error' : 'msg ok', id: 'sync-done' },
          run.status === 'failed' ? `The sync failed: ${run.error || ''}`
            : run.status === 'partial' ? `The first sync has finished; ${c.failed} record${c.failed === 1 ? '' : 's'} failed and will be retried on the next run (open the run for the reasons). The sync now runs daily.`
              : 'The first sync has finished. The sync now runs daily.') : null,
        done ? actions(h('a', { class: 'btn', href: `#/t/${encodeURIComponent(env.id)}/runs/${encodeURIComponent(run.run_id)}` }, 'Open this run'),
          h('a', { class: 'btn primary', href: `#/t/${encodeURIComponent(env.id)}/dashboard` }, 'Go to the dashboard')) : null,
      );
      if (done) {
        clearInterval(timer);
        announce(`First sync ${run.status}.`, run.status === 'failed' ? 'error' : 'ok');
      }
    };
    const timer = env.ctx.every(1000, tick);
    tick();
  };
  if (env.tenant.status === 'enabled') {
    fill(env.body, h('p', { class: 'msg ok' }, 'The sync is enabled.'), live);
    watch(null);
    return;
  }
  const err = h('div');
  const go = button('Enable the sync', async () => {
    go.disabled = true;
    err.replaceChildren();
    try {
      const since = new Date(Date.now() - 5000).toISOString();
      await call('POST', tenantPath(env.id, '/enable'));
      env.ctx.refreshNav();
      go.remove();
      announce('Enabled: the HubSpot properties are set up and the first sync is queued.', 'ok');
      watch(since);
    } catch (x) {
      go.disabled = false;
      err.replaceChildren(errorBox(x));
    }
  }, { class: 'btn primary' });
  fill(env.body, h('p', {}, 'Enabling creates the "Pendo" properties in HubSpot, runs the first full sync now (a year of usage history), then syncs daily.'),
    err, actions(env.back, go), live);
}
