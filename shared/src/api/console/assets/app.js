// The console shell: sign-in, who the caller is, navigation and the hash router.
import { call, loadConfig, token, setToken, signOut, startOidc, finishOidc } from './api.js';
import { h, field, button, errorBox, focusHeading } from './ui.js';
import { wizard } from './wizard.js';
import { dashboard, runs, runDetail, tenants, danger } from './views.js';

const main = document.getElementById('main');
const state = { me: null };
let timers = [];

/** Timers of the current screen; cleared when the screen changes. */
export function every(ms, fn) {
  const t = setInterval(fn, ms);
  timers.push(t);
  return t;
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function nav() {
  const el = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!state.me) {
    el.replaceChildren();
    who.replaceChildren();
    return;
  }
  const m = location.hash.match(/^#\/t\/([^/]+)/);
  const tenant = m ? decodeURIComponent(m[1]) : state.me.tenant_id;
  const here = location.hash;
  const link = (href, text) =>
    h('a', { href, 'aria-current': here.startsWith(href) ? 'page' : false }, text);
  const items = [];
  if (state.me.role === 'operator') items.push(link('#/tenants', 'Tenants'));
  if (tenant) {
    const base = `#/t/${encodeURIComponent(tenant)}`;
    items.push(link(`${base}/dashboard`, 'Dashboard'), link(`${base}/setup`, 'Setup'),
      link(`${base}/runs`, 'Runs'), link(`${base}/danger`, 'Disconnect'));
  }
  el.replaceChildren(h('ul', {}, items.map((i) => h('li', {}, i))));
  who.replaceChildren(
    h('span', { class: 'role' }, state.me.role === 'operator' ? 'Operator' : `Admin · ${state.me.tenant_id}`),
    button('Sign out', () => { signOut(); state.me = null; go('#/'); }, { class: 'btn link' }),
  );
}

async function signIn() {
  const cfg = await loadConfig();
  const h1 = h('h1', {}, 'Sign in');
  if (cfg.sign_in === 'oidc') {
    main.replaceChildren(h('section', { class: 'card narrow' }, h1,
      h('p', {}, 'Sign in with your organisation account.'),
      button('Sign in', () => startOidc(), { class: 'btn primary' })));
    return;
  }
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true });
  const err = h('div');
  const form = h('form', {
    class: 'card narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      try {
        state.me = await call('GET', 'me');
        go(home());
      } catch (x) {
        err.replaceChildren(errorBox(x));
      }
    },
  }, h1,
  h('p', {}, 'This server signs in with a bearer token: the --operator-token or an --admin-token it was started with.'),
  field('Token', input), err, h('button', { type: 'submit', class: 'btn primary' }, 'Sign in'));
  main.replaceChildren(form);
}

function home() {
  if (!state.me) return '#/';
  return state.me.role === 'operator' ? '#/tenants' : `#/t/${encodeURIComponent(state.me.tenant_id)}/dashboard`;
}

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  document.getElementById('status').replaceChildren();
  try {
    if (!token()) {
      state.me = null;
      nav();
      await signIn();
      focusHeading();
      return;
    }
    if (!state.me) state.me = await call('GET', 'me');
    nav();
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    const ctx = { me: state.me, main, go, every, refreshNav: nav };
    if (parts[0] === 't' && parts[1]) {
      const id = parts[1];
      switch (parts[2]) {
        case 'setup': await wizard(ctx, id, parts[3]); break;
        case 'runs': parts[3] ? await runDetail(ctx, id, parts[3]) : await runs(ctx, id); break;
        case 'danger': await danger(ctx, id); break;
        default: await dashboard(ctx, id);
      }
    } else if (parts[0] === 'tenants' && state.me.role === 'operator') {
      await tenants(ctx);
    } else {
      go(home());
      return;
    }
    document.title = `${main.querySelector('h1')?.textContent || 'Console'} — Pendo ↔ HubSpot sync`;
    focusHeading();
  } catch (e) {
    if (e.status === 401) {
      state.me = null;
      return route();
    }
    main.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(e));
    focusHeading();
  }
}

window.addEventListener('hashchange', route);
(async () => {
  await loadConfig();
  try {
    await finishOidc();
  } catch (e) {
    main.replaceChildren(h('h1', {}, 'Sign-in failed'), errorBox(e));
    return;
  }
  route();
})();
