// The workplace's shell: who is signed in, the navigation, the language, and the router that maps
// a path (/desk, /contacts/{id}, ...) to a page module. Pages render into <main>.
import { get, onRetry, post, setToken, token } from './api.js';
import { lang, LANGUAGES, setLang, t } from './i18n.js';
import { clear, h, rememberUsers, setZone } from './ui.js';

const ROUTES = [
  [/^\/signin$/, 'signin', { public: true }],
  [/^\/desk$/, 'desk'],
  [/^\/contacts$/, 'contacts'],
  [/^\/contacts\/([^/]+)$/, 'contact'],
  [/^\/tickets$/, 'tickets'],
  [/^\/tickets\/([^/]+)$/, 'ticket'],
  [/^\/deals$/, 'deals'],
  [/^\/documents$/, 'documents'],
  [/^\/documents\/([^/]+)$/, 'document'],
  [/^\/imports$/, 'imports'],
  [/^\/manager$/, 'manager'],
  [/^\/admin$/, 'admin'],
  [/^\/account$/, 'account'],
];
const NAV = [
  ['/desk', 'nav.desk', ['admin', 'manager', 'agent']],
  ['/contacts', 'nav.contacts', ['admin', 'manager', 'agent']],
  ['/tickets', 'nav.tickets', ['admin', 'manager', 'agent']],
  ['/deals', 'nav.deals', ['admin', 'manager', 'agent']],
  ['/documents', 'nav.documents', ['admin', 'manager', 'agent']],
  ['/imports', 'nav.imports', ['admin', 'manager', 'agent']],
  ['/manager', 'nav.manager', ['admin', 'manager', 'agent', 'analyst']],
  ['/admin', 'nav.admin', ['admin']],
];

export const session = { me: null };

/** Goes to `path` (with its query) without reloading the page; resolves once the page is drawn. */
export function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  return route();
}

function home(me) {
  return ['manager', 'analyst'].includes(me.role) ? '/manager' : '/desk';
}

export async function signIn(email, password) {
  const answer = await post('/auth/token', { email, password }, { retryThrottled: false });
  setToken(answer.access_token);
  await loadMe();
}

async function loadMe() {
  session.me = await get('/users/me');
  setZone(session.me.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone);
  try { rememberUsers((await get('/users', { limit: 200 })).items); } catch { /* names fall back to ids */ }
}

export async function signOut() {
  // The token is dropped before the server is told: a page left or reloaded meanwhile is signed out.
  const held = token();
  setToken(null);
  session.me = null;
  try { await post('/auth/logout', {}, { token: held }); } catch { /* signed out here either way */ }
  go('/signin', { replace: true });
}

function header() {
  const me = session.me;
  const languages = h('select', { id: 'lang', 'aria-label': t('nav.language'), onchange: (e) => { setLang(e.target.value); route(); } },
    LANGUAGES.map(([code, name]) => h('option', { value: code, text: name, selected: code === lang() })));
  const nav = me ? h('nav', { 'aria-label': t('nav.main') }, h('ul', {},
    NAV.filter(([, , roles]) => roles.includes(me.role)).map(([path, key]) => h('li', {},
      h('a', { href: path, 'aria-current': location.pathname.startsWith(path) ? 'page' : null, text: t(key) }))))) : null;
  const user = me ? h('div', { class: 'user' },
    h('a', { href: '/account', text: me.name || me.email, title: t('nav.account') }),
    h('button', { type: 'button', class: 'link', text: t('nav.signout'), onclick: signOut })) : null;
  return [h('a', { class: 'brand', href: '/', text: 'CRM' }), nav, h('div', { class: 'tools' }, languages, user)];
}

let current = 0;
export async function route() {
  const run = ++current;
  document.documentElement.lang = lang();
  document.querySelector('.skip').textContent = t('nav.skip');
  const main = document.getElementById('main');
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (!token() && path !== '/signin') {
    go(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    return;
  }
  if (token() && !session.me && path !== '/signin') {  // a stale token never hides the sign-in form
    try { await loadMe(); } catch { return; }
  }
  if (path === '/') { go(home(session.me), { replace: true }); return; }
  const found = ROUTES.map(([pattern, name, opts]) => [path.match(pattern), name, opts]).find(([m]) => m);
  clear(document.getElementById('top'), ...header());
  if (!found) { clear(main, h('h1', { text: t('error.404') })); return; }
  const [match, name] = found;
  const page = await import(`./pages/${name}.js`);
  if (run !== current) return;
  clear(main);
  try {
    await page.render(main, { params: match.slice(1), query: new URLSearchParams(location.search), me: session.me });
  } catch (error) {
    if (run === current) main.append(h('p', { class: 'notice notice-error', role: 'alert', text: error.message }));
  }
  if (run === current) {
    const title = main.querySelector('h1');
    document.title = `${title ? title.textContent : 'CRM'} · CRM`;
  }
}

// Links inside the application change the page without a reload.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href^="/"]');
  if (!link || link.hasAttribute('download') || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute('href'));
  document.getElementById('main').focus();
});
window.addEventListener('popstate', route);
// A table's caption that says what its section's heading already says is shown once (read out still).
new MutationObserver(() => {
  for (const caption of document.querySelectorAll('#main caption:not(.sr-only)')) {
    const heading = caption.closest('section')?.querySelector('h2');
    if (heading && heading.textContent.trim() === caption.textContent.trim()) caption.classList.add('sr-only');
  }
}).observe(document.getElementById('main'), { childList: true, subtree: true });
window.addEventListener('crm:signed-out', () => {
  session.me = null;
  if (location.pathname !== '/signin') go(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
});
onRetry((message) => {
  const status = document.getElementById('status');
  status.textContent = message;
  status.hidden = !message;
});
route();
