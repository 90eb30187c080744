// The one way the workplace talks to the CRM: /api/v1 with the signed-in user's bearer token.
// A 503 or 429 with Retry-After is waited for and retried (and the page says so); every POST carries
// an Idempotency-Key kept across its retries, so a retry never creates a thing twice.
import { t } from './i18n.js';

export const V1 = '/api/v1';
const RETRIES = 5;
const TOKEN_KEY = 'crm.token';

export class Problem extends Error {
  constructor(status, doc) {
    super(doc.detail || doc.title || `HTTP ${status}`);
    this.status = status;
    this.title = doc.title || '';
    this.detail = doc.detail || '';
    this.errors = doc.errors || {};
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
}

const listeners = new Set();
let waiting = 0; // requests that have waited for a retry and are not answered yet
/** `onRetry(fn)`: fn(message) while some request waits to be retried, fn('') once none does. */
export function onRetry(fn) { listeners.add(fn); }
function tell(message) { for (const fn of listeners) fn(waiting > 0 ? message : ''); }

export function url(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    params.append(key, value);
  }
  const text = params.toString();
  return `${V1}${path}${text ? `?${text}` : ''}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function retryAfter(response) {
  const value = Number(response.headers.get('Retry-After'));
  return Number.isFinite(value) && value >= 0 ? Math.min(value, 30) : 2;
}

async function problemOf(response) {
  let doc = {};
  try { doc = await response.json(); } catch { doc = { title: response.statusText }; }
  return new Problem(response.status, doc);
}

/** Runs `send()` (which returns a Response) until it is not a 503/429, at most RETRIES times; a 429 is
 *  answered at once with `throttled: false` (a lock on password guesses lasts minutes: say so, don't wait). */
async function withRetries(send, signal, { throttled = true } = {}) {
  let retried = false;
  const wait = async (message, seconds) => {
    if (!retried) { retried = true; waiting += 1; }
    tell(message);
    await sleep(seconds * 1000);
  };
  try {
    for (let attempt = 1; ; attempt += 1) {
      let response;
      try {
        response = await send();
      } catch (error) {
        if (error.name === 'AbortError' || attempt >= RETRIES) throw error;
        await wait(t('retry.offline', { seconds: 2, attempt, of: RETRIES }), 2);
        continue;
      }
      if ((response.status === 503 || (response.status === 429 && throttled)) && attempt < RETRIES && !signal?.aborted) {
        const seconds = retryAfter(response);
        await wait(t(response.status === 503 ? 'retry.unavailable' : 'retry.limited', { seconds, attempt, of: RETRIES }), seconds);
        continue;
      }
      return response;
    }
  } finally {
    if (retried) { waiting -= 1; if (waiting === 0) tell(''); }
  }
}

function signedOut(response, path) {
  if (response.status === 401 && path !== '/auth/token') {
    setToken(null);
    window.dispatchEvent(new CustomEvent('crm:signed-out'));
  }
}

/**
 * `api(method, path, {query, body, version, signal, raw})`: the parsed JSON (null for 204), or the
 * Response itself with `raw`; a Problem for any error status. `version` is sent as If-Match;
 * `retryThrottled: false` answers a 429 at once instead of waiting for it; `token` sends that token
 * instead of the session's.
 */
export async function api(method, path, options = {}) {
  const headers = { Accept: 'application/json' };
  const auth = options.token || token();
  if (auth) headers.Authorization = `Bearer ${auth}`;
  let body;
  if (options.body !== undefined) {
    headers['Content-Type'] = options.contentType || 'application/json';
    body = options.contentType ? options.body : JSON.stringify(options.body);
  }
  if (options.version !== undefined && options.version !== null) headers['If-Match'] = `"${options.version}"`;
  if (method === 'POST') headers['Idempotency-Key'] = crypto.randomUUID();
  const target = url(path, options.query);
  const response = await withRetries(
    () => fetch(target, { method, headers, body, signal: options.signal }), options.signal,
    { throttled: options.retryThrottled !== false });
  signedOut(response, path);
  if (!response.ok) throw await problemOf(response);
  if (options.raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

export const get = (path, query, options = {}) => api('GET', path, { ...options, query });
export const post = (path, body, options = {}) => api('POST', path, { ...options, body });
export const patch = (path, body, version) => api('PATCH', path, { body, version });
export const del = (path, version) => api('DELETE', path, { version });

/**
 * Sends `body` (a FormData or a File) with XMLHttpRequest, which reports upload progress:
 * `onProgress(fraction)`. Retried like `api` on 503 and 429; resolves with the parsed JSON.
 */
export async function upload(path, body, { onProgress, contentType, query } = {}) {
  const key = crypto.randomUUID();
  const send = () => new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', url(path, query));
    request.setRequestHeader('Authorization', `Bearer ${token()}`);
    request.setRequestHeader('Idempotency-Key', key);
    request.setRequestHeader('Accept', 'application/json');
    if (contentType) request.setRequestHeader('Content-Type', contentType);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    request.onload = () => resolve(new Response(request.responseText || null, {
      status: request.status,
      headers: { 'Content-Type': request.getResponseHeader('Content-Type') || '',
        'Retry-After': request.getResponseHeader('Retry-After') || '' },
    }));
    request.onerror = () => reject(new TypeError('network error'));
    request.send(body);
  });
  const response = await withRetries(send);
  signedOut(response, path);
  if (!response.ok) throw await problemOf(response);
  if (onProgress) onProgress(1);
  return response.json();
}

/** Every item of a list, following `next_cursor` up to `max` items. */
export async function all(path, query = {}, max = 1000) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...query, limit: 200, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/** Saves the body of a GET (a CSV export, a document's content) as a file named `filename`. */
export async function download(path, query, filename) {
  const response = await api('GET', path, { query, raw: true });
  saveBlob(await response.blob(), filename);
}

export function saveBlob(blob, filename) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
