// Small DOM helpers. Text is always set as text (never parsed as HTML), so names and messages
// from HubSpot, Pendo or a tenant cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
export const nextId = (p = 'f') => `${p}-${++uid}`;

/** A labelled control with an optional hint; returns the wrapper (control is `.control`). */
export function field(label, control, hint) {
  const id = control.id || nextId();
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
  wrap.control = control;
  return wrap;
}

export function select(options, value, attrs = {}) {
  return h(
    'select',
    attrs,
    options.map((o) => {
      const [v, text] = Array.isArray(o) ? o : [o, o];
      return h('option', { value: v, selected: v === value }, text);
    }),
  );
}

export function button(text, onclick, attrs = {}) {
  return h('button', { type: 'button', class: 'btn', onclick, ...attrs }, text);
}

/** Shows a message in the page's live region (read out by screen readers). */
export function announce(text, kind = 'info') {
  const region = document.getElementById('status');
  region.replaceChildren(h('p', { class: `msg ${kind}` }, text));
}

export function errorBox(err) {
  const where = err.field ? ` (field: ${err.field})` : '';
  return h('div', { class: 'msg error', role: 'alert' }, `${err.message}${where}`);
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function fmtDuration(secs) {
  if (secs === null || secs === undefined) return '—';
  if (secs < 10) return `${Math.round(secs * 10) / 10} s`;
  if (secs < 60) return `${Math.round(secs)} s`;
  if (secs < 3600) return `${Math.round(secs / 60)} min`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} d`;
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || text}` }, text.replace(/_/g, ' '));
}

/** Moves focus to the page heading after a screen change (keyboard and screen-reader users). */
export function focusHeading() {
  const h1 = document.querySelector('main h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus();
  }
}

/** A table that may scroll sideways on a narrow screen: a focusable, named region, so the
 *  keyboard can scroll it too. */
export function scroller(table) {
  const name = table.querySelector('caption')?.textContent || table.getAttribute('aria-label') || 'Table';
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': name }, table);
}

/** Appends children, skipping null/false/undefined (DOM append would write them as text). */
export function fill(el, ...kids) {
  el.append(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  return el;
}

/** Replaces the children, skipping null/false/undefined. */
export function put(el, ...kids) {
  el.replaceChildren();
  return fill(el, ...kids);
}
