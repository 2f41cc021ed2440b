// Dashboard, run history, one run, the operator's tenant list, disconnect/delete.
import { call, tenantPath } from './api.js';
import { h, field, select, button, announce, errorBox, badge, fmtTime, fmtDuration, scroller } from './ui.js';

const enc = encodeURIComponent;

function duration(run) {
  if (run.busy_seconds) return run.busy_seconds;
  if (!run.finished_at) return null;
  return (new Date(run.finished_at) - new Date(run.started_at)) / 1000;
}

/** Bar chart (SVG) of the last runs: records written per run, and durations. */
function chart(runs) {
  const data = runs.slice().reverse();
  const W = 600, H = 160, pad = 24;
  const bw = (W - pad) / 30; // a slot for each of the last 30 runs, filled from the left
  const maxC = Math.max(1, ...data.map((r) => r.counts.pushed + r.counts.pulled + r.counts.failed));
  const maxD = Math.max(1, ...data.map((r) => duration(r) || 0));
  const ns = 'http://www.w3.org/2000/svg';
  const s = (tag, attrs, ...kids) => {
    const el = document.createElementNS(ns, tag);
    Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, v));
    kids.forEach((k) => el.append(k));
    return el;
  };
  const svg = s('svg', { viewBox: `0 0 ${W} ${H + 20}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', class: 'chart' },
    s('title', { id: 'chart-title' }, `Last ${data.length} runs`),
    s('desc', { id: 'chart-desc' }, data.map((r) => `${fmtTime(r.started_at)}: ${r.counts.pushed} pushed, ${r.counts.pulled} pulled, ${r.counts.failed} failed, ${fmtDuration(duration(r))}`).join('; ')));
  data.forEach((r, i) => {
    const x = pad + i * bw;
    let y = H;
    for (const [k, cls] of [['pushed', 'pushed'], ['pulled', 'pulled'], ['failed', 'failed']]) {
      const hgt = (r.counts[k] / maxC) * (H - 10);
      y -= hgt;
      svg.append(s('rect', { x: x + 1, y, width: Math.max(bw - 3, 1), height: hgt, class: cls }));
    }
    const d = duration(r) || 0;
    svg.append(s('circle', { cx: x + bw / 2, cy: H - (d / maxD) * (H - 10), r: 3, class: 'dur' }));
  });
  svg.append(s('line', { x1: pad, y1: H, x2: W, y2: H, class: 'axis' }));
  return h('figure', { class: 'chart-wrap' }, svg,
    h('figcaption', {}, h('span', { class: 'key pushed' }, 'pushed'), ' ', h('span', { class: 'key pulled' }, 'pulled'), ' ',
      h('span', { class: 'key failed' }, 'failed'), ' ', h('span', { class: 'key dur' }, 'duration (dot)'),
      ` · max ${maxC} records, ${fmtDuration(maxD)}`));
}

export async function dashboard(ctx, id) {
  const [tenant, st, page] = await Promise.all([
    call('GET', tenantPath(id)), call('GET', tenantPath(id, '/status')), call('GET', tenantPath(id, '/runs?limit=30')),
  ]);
  const last = page.items[0];
  const side = (name, ok, detail, fix) => h('div', { class: `tile ${ok ? 'ok' : 'attention'}` },
    h('h2', {}, name), h('p', {}, ok ? 'Connected' : 'Needs attention'), detail ? h('p', { class: 'hint' }, detail) : null,
    !ok ? h('a', { href: `#/t/${enc(id)}/setup/${fix}` }, `Fix: ${fix === 'pendo' ? 'save a Pendo key' : 'connect HubSpot'}`) : null);
  const err = h('div');
  const act = async (fn) => {
    err.replaceChildren();
    try {
      await fn();
      ctx.go(location.hash);
    } catch (x) {
      err.replaceChildren(errorBox(x));
    }
  };
  const runNow = button('Run now', () => act(async () => {
    const r = await call('POST', tenantPath(id, '/runs'));
    announce(r.coalesced ? 'A run is already queued; your request joins it.' : 'Sync queued.', 'ok');
  }), { class: 'btn primary', disabled: tenant.status !== 'enabled' });
  const toggle = tenant.status === 'enabled'
    ? button('Disable the sync', () => act(() => call('POST', tenantPath(id, '/disable'))))
    : button('Enable the sync', () => act(() => call('POST', tenantPath(id, '/enable'))));
  ctx.main.replaceChildren(
    h('p', { class: 'crumb' }, tenant.display_name),
    h('h1', {}, 'Dashboard'),
    h('div', { class: 'status-line' }, 'Sync: ', badge(tenant.status), st.attention_reason ? h('p', { class: 'msg error' }, st.attention_reason) : null),
    err,
    h('div', { class: 'actions' }, runNow, toggle),
    h('div', { class: 'tiles' },
      side('Pendo', st.pendo_connected, `Region ${tenant.pendo_region}`, 'pendo'),
      side('HubSpot', st.hubspot_connected, st.hubspot_portal_id ? `Portal ${st.hubspot_portal_id}` : null, 'hubspot'),
      h('div', { class: 'tile' }, h('h2', {}, 'Last run'),
        last ? h('p', {}, badge(last.status), ' ', h('a', { href: `#/t/${enc(id)}/runs/${enc(last.run_id)}` }, fmtTime(last.started_at))) : h('p', {}, 'No run yet'),
        h('p', { class: 'hint' }, `Last success ${fmtTime(st.last_success)} · lag ${fmtDuration(st.lag_seconds)}`)),
      h('div', { class: 'tile' }, h('h2', {}, 'Next run'), h('p', {}, st.next_scheduled ? fmtTime(st.next_scheduled) : 'Not scheduled (disabled)')),
      h('div', { class: 'tile' }, h('h2', {}, 'Last run’s records'),
        last ? h('ul', { class: 'counts' }, h('li', {}, h('strong', {}, String(last.counts.pushed)), ' pushed'),
          h('li', {}, h('strong', {}, String(last.counts.pulled)), ' pulled'),
          h('li', {}, h('strong', {}, String(st.failing_records)), ' failing')) : h('p', {}, '—'))),
    h('section', { class: 'card' }, h('h2', {}, 'Last 30 runs'), page.items.length ? chart(page.items) : h('p', {}, 'No runs yet.')),
  );
}

export async function runs(ctx, id) {
  const tenant = await call('GET', tenantPath(id));
  const body = h('tbody');
  const more = button('Older runs', () => load(), { class: 'btn' });
  let next = null;
  const load = async () => {
    const page = await call('GET', tenantPath(id, `/runs?limit=20${next ? `&after=${enc(next)}` : ''}`));
    next = page.next;
    more.hidden = !next;
    for (const r of page.items) {
      body.append(h('tr', {},
        h('td', {}, h('a', { href: `#/t/${enc(id)}/runs/${enc(r.run_id)}` }, fmtTime(r.started_at))),
        h('td', {}, r.trigger.replace(/_/g, ' ')), h('td', {}, badge(r.status)),
        h('td', { class: 'n' }, String(r.counts.pushed)), h('td', { class: 'n' }, String(r.counts.pulled)),
        h('td', { class: 'n' }, String(r.counts.failed)), h('td', { class: 'n' }, fmtDuration(duration(r)))));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: '7' }, 'No runs yet.')));
  };
  ctx.main.replaceChildren(h('p', { class: 'crumb' }, tenant.display_name), h('h1', {}, 'Run history'),
    scroller(h('table', {}, h('caption', {}, 'Runs, newest first'),
      h('thead', {}, h('tr', {}, ['Started', 'Trigger', 'Status', 'Pushed', 'Pulled', 'Failed', 'Time'].map((c) => h('th', { scope: 'col' }, c)))), body)),
    h('div', { class: 'actions' }, more));
  await load();
}

export async function runDetail(ctx, id, runId) {
  let d = await call('GET', tenantPath(id, `/runs/${enc(runId)}?limit=50`));
  const r = d.run;
  const errors = h('tbody');
  const more = button('More errors', async () => {
    d = await call('GET', tenantPath(id, `/runs/${enc(runId)}?limit=50&after=${enc(d.next)}`));
    addErrors(d);
  }, { class: 'btn' });
  const addErrors = (page) => {
    for (const e of page.errors) {
      errors.append(h('tr', { class: 'record-error' }, h('td', {}, e.direction === 'push' ? 'Pendo → HubSpot' : 'HubSpot → Pendo'),
        h('td', {}, e.object), h('td', {}, h('code', {}, e.object_id)), h('td', {}, e.field || '—'), h('td', {}, e.message)));
    }
    more.hidden = !page.next;
  };
  addErrors(d);
  const c = r.counts;
  const kv = (pairs) => h('dl', { class: 'summary' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  ctx.main.replaceChildren(
    h('p', { class: 'crumb' }, h('a', { href: `#/t/${enc(id)}/runs` }, 'Run history'), ` · ${r.run_id}`),
    h('h1', {}, `Run of ${fmtTime(r.started_at)}`),
    h('section', { class: 'card' }, kv([
      ['Status', badge(r.status)], ['Trigger', r.trigger.replace(/_/g, ' ')], ['Started', fmtTime(r.started_at)],
      ['Finished', fmtTime(r.finished_at)], ['Time working', fmtDuration(duration(r))],
      ['Invocations', `${r.invocations} (continued after each time budget)`],
      ['Error', r.error || '—'],
    ])),
    h('section', { class: 'card' }, h('h2', {}, 'Records'), kv([
      ['Pushed to HubSpot', String(c.pushed)], ['Pulled into Pendo', String(c.pulled)], ['Unchanged', String(c.unchanged)],
      ['Failed', String(c.failed)], ['Retried from earlier runs', String(c.retried)], ['Matched by e-mail or domain', String(c.resolved)],
      ['Ambiguous (not guessed)', String(c.ambiguous)], ['Without a match', String(c.unmatched)], ['Rule actions', String(c.actions)],
    ])),
    h('section', { class: 'card' }, h('h2', {}, 'Phases'),
      (r.phases || []).length ? scroller(h('table', { 'aria-label': 'Phases' },
        h('thead', {}, h('tr', {}, ['Phase', 'Time', 'API calls'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, r.phases.map((p) => h('tr', {}, h('td', {}, p.phase.replace(':', ' · ')),
          h('td', {}, fmtDuration(p.seconds)), h('td', {}, String(p.api_calls))))))) : h('p', {}, 'Not recorded for this run.')),
    h('section', { class: 'card' }, h('h2', {}, 'API calls by kind'),
      Object.keys(r.api_calls).length ? kv(Object.entries(r.api_calls).map(([k, v]) => [k, String(v)])) : h('p', {}, 'None recorded.')),
    r.actions.length ? h('section', { class: 'card' }, h('h2', {}, 'Rule actions'), h('ul', {}, r.actions.map((a) =>
      h('li', {}, `${a.rule}: ${a.action} for ${a.object_id}${a.dry_run ? ' (dry run)' : ''}${a.hubspot_id ? ` → HubSpot ${a.hubspot_id}` : ''}`)))) : '',
    h('section', { class: 'card' }, h('h2', { id: 'errors' }, `Record errors (${r.errors_recorded})`),
      h('p', { class: 'hint' }, 'Each failed record is retried on the next run; fix the value in HubSpot or Pendo if the message asks for it.'),
      r.errors_recorded ? scroller(h('table', { 'aria-label': 'Record errors' },
        h('thead', {}, h('tr', {}, ['Direction', 'Object', 'Record id', 'Field', 'Message'].map((t) => h('th', { scope: 'col' }, t)))), errors)) : h('p', {}, 'No record failed.'),
      h('div', { class: 'actions' }, more)),
  );
}

export async function tenants(ctx) {
  const filter = select([['', 'All'], ['enabled', 'Enabled'], ['disabled', 'Disabled'], ['needs_attention', 'Needs attention']], '', { id: 'status-filter' });
  const body = h('tbody');
  let all = [];
  let next = null;
  const more = button('Load more', () => load(), { class: 'btn' });
  // The filter is applied by the server (GET /v1/tenants?status=…), so paging stays exact.
  const render = () => {
    const shown = all;
    body.replaceChildren(...shown.map((t) => h('tr', {},
      h('td', {}, h('a', { href: `#/t/${enc(t.id)}/dashboard` }, t.display_name)), h('td', {}, h('code', {}, t.id)),
      h('td', {}, badge(t.status)), h('td', {}, t.hubspot_portal_id ? String(t.hubspot_portal_id) : '—'),
      h('td', {}, h('a', { href: `#/t/${enc(t.id)}/setup` }, 'Setup')))));
    if (!shown.length) body.append(h('tr', {}, h('td', { colspan: '5' }, 'No tenant matches.')));
  };
  const load = async () => {
    const status = filter.value ? `&status=${enc(filter.value)}` : '';
    const page = await call('GET', `tenants?limit=100${status}${next ? `&after=${enc(next)}` : ''}`);
    all = all.concat(page.items);
    next = page.next;
    more.hidden = !next;
    render();
  };
  filter.addEventListener('change', () => {
    all = [];
    next = null;
    load();
  });
  const tid = h('input', { type: 'text', required: true, pattern: '[a-z0-9][a-z0-9\\-]{2,63}', name: 'id', 'data-field': 'id' });
  const name = h('input', { type: 'text', required: true, maxlength: '200', name: 'display_name', 'data-field': 'display_name' });
  const region = select([['us', 'US'], ['us1', 'US1'], ['eu', 'EU'], ['jp', 'Japan'], ['au', 'Australia']], 'us');
  const err = h('div');
  const create = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      err.replaceChildren();
      try {
        const t = await call('POST', 'tenants', { id: tid.value.trim(), display_name: name.value, pendo_region: region.value });
        announce(`Tenant ${t.id} created.`, 'ok');
        ctx.go(`#/t/${enc(t.id)}/setup/pendo`);
      } catch (x) {
        err.replaceChildren(errorBox(x));
      }
    },
  }, h('h2', {}, 'New tenant'), h('div', { class: 'grid' },
    field('Tenant id', tid, '3–64 characters: a–z, 0–9 and "-"'), field('Display name', name), field('Pendo region', region)),
  err, h('button', { type: 'submit', class: 'btn primary' }, 'Create tenant'));
  ctx.main.replaceChildren(h('h1', {}, 'Tenants'), field('Show', filter),
    scroller(h('table', {}, h('caption', {}, 'Tenants'),
      h('thead', {}, h('tr', {}, ['Name', 'Id', 'Status', 'HubSpot portal', ''].map((c) => h('th', { scope: 'col' }, c)))), body)),
    h('div', { class: 'actions' }, more), create);
  await load();
}

/** Disconnect HubSpot or delete the tenant, each after typing the tenant id. */
export async function danger(ctx, id) {
  const tenant = await call('GET', tenantPath(id));
  const confirmBox = (label, action, run) => {
    const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const err = h('div');
    const go = h('button', { type: 'submit', class: 'btn danger', disabled: true }, label);
    input.addEventListener('input', () => { go.disabled = input.value !== tenant.id; });
    return h('form', {
      class: 'card',
      onsubmit: async (e) => {
        e.preventDefault();
        if (input.value !== tenant.id) return;
        try {
          await run();
        } catch (x) {
          err.replaceChildren(errorBox(x));
        }
      },
    }, h('h2', {}, label), h('p', {}, action), field(`Type the tenant id "${tenant.id}" to confirm`, input), err, go);
  };
  ctx.main.replaceChildren(h('p', { class: 'crumb' }, tenant.display_name), h('h1', {}, 'Disconnect or delete'),
    confirmBox('Disconnect HubSpot', 'Revokes the sync\'s HubSpot access and disables the sync. Data in HubSpot and Pendo stays.', async () => {
      await call('DELETE', tenantPath(id, '/hubspot'));
      announce('HubSpot disconnected; the sync is disabled.', 'ok');
      ctx.go(`#/t/${enc(id)}/dashboard`);
    }),
    confirmBox('Delete tenant', 'Revokes HubSpot access, deletes the Pendo key, the configuration, rules and run history. This cannot be undone.', async () => {
      await call('DELETE', tenantPath(id));
      announce(`Tenant ${id} deleted.`, 'ok');
      ctx.go(ctx.me.role === 'operator' ? '#/tenants' : '#/');
    }));
}
