// Small DOM helpers shared by the pages: elements, forms with field errors, times, countdowns.
import { Problem } from './api.js';
import { lang, t } from './i18n.js';

/** `h('button', {class: 'x', onclick: fn}, 'text', child)`: an element; strings become text. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = value;
    else if (key === 'value') continue;
    else if (key === 'checked') element.checked = Boolean(value);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? '' : value);
  }
  append(element, children);
  // after the children: a <select>'s value needs its options
  if (attrs && attrs.value !== undefined && attrs.value !== null) {
    if ('defaultValue' in element) element.defaultValue = attrs.value; // what a form's reset goes back to
    element.value = attrs.value;
  }
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const clear = (element, ...children) => { element.replaceChildren(); append(element, children); return element; };

let fieldCount = 0;
/** A labelled form field; `control` is an input/select/textarea element or a tag name. */
export function field(label, control, hint) {
  const input = typeof control === 'string' ? h(control) : control;
  fieldCount += 1;
  input.id = input.id || `f${fieldCount}`;
  const error = h('p', { class: 'field-error', id: `${input.id}-error`, hidden: true });
  const hintNode = hint ? h('p', { class: 'hint', id: `${input.id}-hint`, text: hint }) : null;
  if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
  return h('div', { class: 'field', dataset: { field: input.name || '' } },
    h('label', { for: input.id, text: label }), input, hintNode, error);
}

export const input = (name, attrs = {}) => h('input', { name, type: 'text', ...attrs });
export function select(name, options, attrs = {}) {
  return h('select', { name, ...attrs }, options.map(([value, label]) => h('option', { value, text: label })));
}

/** The named values of a form, as strings (checkboxes as booleans); empty strings left out. */
export function values(form) {
  const out = {};
  for (const element of form.elements) {
    if (!element.name || element.disabled) continue;
    if (element.type === 'checkbox') out[element.name] = element.checked;
    else if (element.value.trim() !== '') out[element.name] = element.value.trim();
  }
  return out;
}

/** Clears the errors a form shows. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error')) { node.hidden = true; node.textContent = ''; }
  for (const node of form.querySelectorAll('[aria-invalid]')) {
    node.removeAttribute('aria-invalid');
    const hint = node.id && form.querySelector(`#${node.id}-hint`);
    if (hint) node.setAttribute('aria-describedby', hint.id); else node.removeAttribute('aria-describedby');
  }
  const summary = form.querySelector('.form-error');
  if (summary) { summary.hidden = true; summary.textContent = ''; }
}

/** Every message of a problem's error value (a list, or an object of lists for nested fields). */
export function messages(value) {
  if (Array.isArray(value)) return value.flatMap(messages);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => messages(v).map((m) => `${k}: ${m}`));
  return [String(value)];
}

/**
 * Shows an API error on a form: each field error beside its field (`phones.0` beside `phones`,
 * `attributes.tier` beside that custom field), the rest in the form's summary; focuses the first.
 * What was typed stays in the form.
 */
export function showError(form, error) {
  clearErrors(form);
  let summary = form.querySelector('.form-error');
  if (!summary) {
    summary = h('div', { class: 'form-error', role: 'alert' });
    form.prepend(summary);
  }
  const rest = [];
  let first = null;
  const errors = error instanceof Problem ? error.errors : {};
  for (const [key, value] of Object.entries(errors)) {
    const names = [key, key.split('.')[0], `attributes.${key.split('.')[1]}`];
    const control = names.map((name) => form.querySelector(`[name="${CSS.escape(name)}"]`)).find(Boolean);
    const box = control && form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (!box) { rest.push(`${key}: ${messages(value).join(' ')}`); continue; }
    box.textContent = messages(value).join(' ');
    box.hidden = false;
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', box.id);
    first = first || control;
  }
  const lead = describe(error);
  summary.textContent = [lead, ...rest].join(' ');
  summary.hidden = false;
  (first || summary).focus?.();
  if (!first) summary.setAttribute('tabindex', '-1');
}

/** A problem in words for the user. */
export function describe(error) {
  if (!(error instanceof Problem)) {
    const network = error instanceof TypeError && /fetch|network/i.test(error.message);
    return network ? t('error.network') : `${t('error.page')} (${error.message || error})`;
  }
  const known = { 401: 'error.401', 403: 'error.403', 404: 'error.404', 409: 'error.409', 412: 'error.412',
    413: 'error.413', 422: 'error.422', 429: 'error.429', 503: 'error.503' };
  const lead = known[error.status] ? t(known[error.status]) : `${error.title}`;
  return error.detail ? `${lead} (${error.detail})` : lead;
}

/** A message in a region of the page (role alert for errors, status otherwise). */
export function notice(text, kind = 'info') {
  return h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status', text });
}

/**
 * Keeps what is typed into `form` in sessionStorage under `key`, and puts it back: a failed save, a
 * reload or a signed-out session never loses it. `forget()` once it is saved.
 */
export function keepDraft(form, key) {
  const storeKey = `crm.draft.${key}`;
  const saved = JSON.parse(sessionStorage.getItem(storeKey) || '{}');
  for (const element of form.elements) {
    if (!element.name || !(element.name in saved)) continue;
    if (element.type === 'checkbox') element.checked = saved[element.name]; else element.value = saved[element.name];
  }
  const save = () => {
    const data = {};
    for (const element of form.elements) {
      if (!element.name || element.type === 'file') continue;
      data[element.name] = element.type === 'checkbox' ? element.checked : element.value;
    }
    sessionStorage.setItem(storeKey, JSON.stringify(data));
  };
  form.addEventListener('input', save);
  return { forget: () => sessionStorage.removeItem(storeKey) };
}

// Times: stored in UTC, shown in the user's zone (their profile's, else the browser's).
let zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
export function setZone(value) {
  try { new Intl.DateTimeFormat('en', { timeZone: value }); zone = value; } catch { /* keep the browser's */ }
}
export const userZone = () => zone;

export function dateTime(iso, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang(), { ...options, timeZone: zone }).format(new Date(iso));
}

/** An amount with its currency in the user's language ("1,200.00 €", "1 200,00 €"); as sent when the
 *  currency is not an ISO code the browser knows. */
export function money(amount, currency) {
  const value = Number(amount || 0);
  try {
    return new Intl.NumberFormat(lang(), { style: 'currency', currency: currency || 'EUR' }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency || ''}`.trim();
  }
}

/** A file's size in the user's language: "32 B", "1.2 MB" ("32 Б", "1,2 МБ"). */
export function fileSize(bytes) {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return new Intl.NumberFormat(lang(), { style: 'unit', unit: units[unit], unitDisplay: 'short', maximumFractionDigits: 1 }).format(value);
}

export const timeTag = (iso, options) => h('time', { datetime: iso, text: dateTime(iso, options) });

/** The local calendar day (YYYY-MM-DD) of an instant in the user's zone. */
export function localDay(date = new Date()) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(date);
  const get = (type) => parts.find((part) => part.type === type).value;
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** "in 2 h 5 min" or "3 min ago" for an SLA due time. */
export function countdownText(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  const total = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(total / 86400); const hrs = Math.floor((total % 86400) / 3600);
  const min = Math.floor((total % 3600) / 60); const sec = total % 60;
  const span = d ? `${d} ${t('unit.d')} ${hrs} ${t('unit.h')}` : hrs ? `${hrs} ${t('unit.h')} ${min} ${t('unit.min')}`
    : `${min} ${t('unit.min')} ${sec} ${t('unit.s')}`;
  return ms >= 0 ? t('sla.left', { span }) : t('sla.overdue', { span });
}

/** A live SLA countdown: refreshed every second while it is in the page; red once breached. */
export function countdown(iso, breachedAt) {
  const node = h('span', { class: 'countdown' });
  if (!iso) { node.textContent = t('sla.none'); return node; }
  const tick = () => {
    const late = Boolean(breachedAt) || new Date(iso).getTime() < Date.now();
    node.textContent = countdownText(iso);
    node.classList.toggle('late', late);
    node.title = dateTime(iso);
  };
  tick();
  const timer = setInterval(() => { if (!node.isConnected) clearInterval(timer); else tick(); }, 1000);
  return node;
}

/** A `<table>` with a caption, from a header and rows of cells (strings or nodes). */
export function table(caption, header, rows, attrs = {}) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', attrs,
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, header.map((cell) => h('th', { scope: 'col' }, cell)))),
      h('tbody', {}, rows.length ? rows.map((row) => h('tr', {}, row.map((cell) => h('td', {}, cell))))
        : h('tr', {}, h('td', { colspan: header.length, class: 'empty', text: t('list.empty') })))));
}

/** A modal `<dialog>` asking for one line of text; resolves with it, or null when cancelled. */
export function ask(title, label, { required = true } = {}) {
  return new Promise((resolve) => {
    const text = h('textarea', { name: 'answer', rows: 3, required });
    const form = h('form', { method: 'dialog' },
      h('h2', { text: title }), field(label, text),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', value: 'ok', class: 'primary', text: t('action.ok') }),
        h('button', { type: 'button', text: t('action.cancel'), onclick: () => dialog.close('cancel') })));
    const dialog = h('dialog', { 'aria-label': title }, form);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok' ? text.value.trim() : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    text.focus();
  });
}

/** A progress bar with its text, for uploads. */
export function progressBar(label) {
  const bar = h('progress', { max: 100, value: 0, 'aria-label': label });
  const text = h('span', { class: 'progress-text', 'aria-live': 'polite' });
  return {
    node: h('div', { class: 'progress' }, bar, text),
    set(fraction) { bar.value = Math.round(fraction * 100); text.textContent = `${bar.value}%`; },
  };
}

/** A user's name from the cache of users (their id when unknown to the caller). */
const users = new Map();
export function rememberUsers(list) { for (const user of list) users.set(user.id, user); }
export const userName = (id) => (id ? users.get(id)?.name || users.get(id)?.email || id.slice(0, 8) : '—');
export const knownUsers = () => [...users.values()];
