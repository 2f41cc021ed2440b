// Sign-in and the calls to the admin API. Data calls go to ../v1/ (the same origin and stage
// as the console) with `Authorization: Bearer <token>`.
//
// Sign-in is one of two, as /console/config.json says:
// - "oidc": OpenID Connect authorization code + PKCE against the issuer the API's JWT
//   authorizer trusts; the ID token (which carries the tenant_id/role claims) is the bearer.
// - "token": a bearer token typed in (the local server's --operator-token / --admin-token).

const API = new URL('../v1/', location.href);
const CONSOLE = new URL('./', location.href);
// The one redirect URI registered with the issuer (the template's ConsoleCallbackUrl).
const REDIRECT = new URL('index.html', CONSOLE).href;
const KEY = 'pendo-hubspot.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

let config = null;

export async function loadConfig() {
  if (!config) {
    const r = await fetch(new URL('config.json', CONSOLE), { cache: 'no-cache' });
    config = await r.json();
  }
  return config;
}

export function token() {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    const t = JSON.parse(raw);
    if (t.expires_at && Date.now() / 1000 > t.expires_at - 30) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return t.value;
  } catch {
    return null;
  }
}

export function setToken(value, expiresAt) {
  sessionStorage.setItem(KEY, JSON.stringify({ value, expires_at: expiresAt || null }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  if (config && config.sign_in === 'oidc' && config.end_session_endpoint) {
    const u = new URL(config.end_session_endpoint);
    u.searchParams.set('client_id', config.client_id);
    u.searchParams.set('logout_uri', REDIRECT);
    location.assign(u.href);
  }
}

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function endpoints() {
  if (config.authorization_endpoint && config.token_endpoint) return config;
  const r = await fetch(config.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration');
  const d = await r.json();
  return {
    authorization_endpoint: config.authorization_endpoint || d.authorization_endpoint,
    token_endpoint: config.token_endpoint || d.token_endpoint,
  };
}

/** Starts the authorization code + PKCE flow (the browser leaves for the issuer). */
export async function startOidc() {
  const e = await endpoints();
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state, back: location.hash }));
  const u = new URL(e.authorization_endpoint);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', config.client_id);
  u.searchParams.set('redirect_uri', REDIRECT);
  u.searchParams.set('scope', config.scopes);
  u.searchParams.set('state', state);
  u.searchParams.set('code_challenge', challenge);
  u.searchParams.set('code_challenge_method', 'S256');
  location.assign(u.href);
}

/** Finishes the flow when the issuer sent the browser back with ?code=&state=. */
export async function finishOidc() {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return false;
  const saved = JSON.parse(sessionStorage.getItem('pkce') || 'null');
  sessionStorage.removeItem('pkce');
  history.replaceState(null, '', location.pathname + ((saved && saved.back) || ''));
  if (q.has('error')) throw new Error(`sign-in refused: ${q.get('error_description') || q.get('error')}`);
  if (!saved || saved.state !== q.get('state')) throw new Error('sign-in state mismatch; try again');
  const e = await endpoints();
  const r = await fetch(e.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: q.get('code'),
      redirect_uri: REDIRECT,
      client_id: config.client_id,
      code_verifier: saved.verifier,
    }),
  });
  const t = await r.json();
  if (!r.ok || !t.id_token) throw new Error(`token exchange failed: ${t.error || r.status}`);
  const claims = JSON.parse(atob(t.id_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  setToken(t.id_token, claims.exp);
  return true;
}

/** Calls the admin API; throws ApiError with the API's {code, message, field}. */
export async function call(method, path, body) {
  const headers = { authorization: `Bearer ${token() || ''}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(new URL(path.replace(/^\//, ''), API), init);
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!r.ok) {
    if (r.status === 401) sessionStorage.removeItem(KEY);
    throw new ApiError(r.status, data);
  }
  return data;
}

export const tenantPath = (id, rest = '') => `tenants/${encodeURIComponent(id)}${rest}`;
