// Contacts: the list with search and filters, page by page; its export as CSV; a new contact.
import { go } from '../app.js';
import { download, get, post } from '../api.js';
import { t } from '../i18n.js';
import { clear, describe, field, h, input, keepDraft, notice, showError, table, timeTag, values } from '../ui.js';

export const contactLabel = (c) => [c.first_name, c.last_name].filter(Boolean).join(' ') || (c.emails || [])[0] || c.id;
const list = (text) => (text || '').split(/[,;\n]/).map((item) => item.trim()).filter(Boolean);

/** The contact fields of a form as the API takes them (lists split at commas). */
export function contactBody(data) {
  const body = { ...data };
  for (const key of ['emails', 'phones', 'tags']) if (key in body) body[key] = list(body[key]);
  return body;
}

/** A form for a new contact, `prefill` in its fields; `onCreated(contact)` once it is saved. */
export function contactForm(prefill, onCreated) {
  const form = h('form', { class: 'stack', 'aria-label': t('contact.new') },
    h('div', { class: 'row' },
      field(t('field.first_name'), input('first_name', { autocomplete: 'off' })),
      field(t('field.last_name'), input('last_name', { autocomplete: 'off' }))),
    h('div', { class: 'row' },
      field(t('field.phones'), input('phones', { value: prefill.phones || '' }), t('hint.list')),
      field(t('field.emails'), input('emails'), t('hint.list'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('contact.create') })));
  const draft = keepDraft(form, `new-contact-${prefill.phones || ''}`);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const contact = await post('/contacts', contactBody(values(form)));
      draft.forget();
      onCreated(contact);
    } catch (error) { showError(form, error); }
  });
  return form;
}

/** A search box that lists matching contacts as one types (the newest answer wins). */
export function contactSearch() {
  const box = h('input', { type: 'search', name: 'q', id: 'contact-search', autocomplete: 'off',
    placeholder: t('search.placeholder'), 'aria-controls': 'search-results' });
  const count = h('p', { class: 'hint', 'aria-live': 'polite', id: 'search-count' });
  const results = h('ul', { class: 'results', id: 'search-results' });
  let pending = null;
  let timer = null;
  const search = async () => {
    const q = box.value.trim();
    pending?.abort();
    if (q.length < 2) { clear(results); count.textContent = ''; return; }
    pending = new AbortController();
    try {
      const found = await get('/contacts', { q, limit: 20 }, { signal: pending.signal });
      clear(results, found.items.map((c) => h('li', {}, h('a', { href: `/contacts/${c.id}` },
        h('strong', { text: contactLabel(c) }), ' ', h('span', { class: 'muted', text: [...(c.phones || []), ...(c.emails || [])].join(' · ') })))));
      count.textContent = found.items.length ? t('search.count', { n: found.items.length }) : t('search.none');
      box.dataset.answered = q; // which query the list shows (the measurements wait for it)
    } catch (error) {
      if (error.name !== 'AbortError') count.textContent = describe(error);
    }
  };
  box.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 50); });
  return h('div', { class: 'search', role: 'search' },
    h('label', { for: 'contact-search', text: t('search.label') }), box, count, results);
}

export async function render(main, { query }) {
  main.append(h('h1', { text: t('nav.contacts') }));
  const filters = h('form', { class: 'row filters', role: 'search', 'aria-label': t('list.filters') },
    field(t('search.label'), input('q', { type: 'search', value: query.get('q') || '' })),
    field(t('field.tag'), input('tag', { value: query.get('tag') || '' })),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', text: t('action.filter') }),
      h('button', { type: 'button', text: t('action.export'), onclick: () => exportCsv() })));
  const body = h('div', { 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true, text: t('list.more') });
  const create = h('details', {}, h('summary', { text: t('contact.new') }),
    contactForm({}, (contact) => go(`/contacts/${contact.id}`)));
  main.append(filters, create, body, more);
  const current = () => values(filters);
  async function exportCsv() {
    try { await download('/contacts/export', current(), 'contacts.csv'); } catch (error) { body.prepend(notice(describe(error), 'error')); }
  }
  let cursor = null;
  let rows = [];
  async function load(reset) {
    if (reset) { cursor = null; rows = []; }
    try {
      const page = await get('/contacts', { ...current(), limit: 50, cursor });
      rows = rows.concat(page.items);
      cursor = page.next_cursor;
      clear(body, table(t('nav.contacts'), [t('field.name'), t('field.phones'), t('field.emails'), t('field.tags'), t('field.created')],
        rows.map((c) => [h('a', { href: `/contacts/${c.id}`, text: contactLabel(c) }), (c.phones || []).join(', '),
          (c.emails || []).join(', '), (c.tags || []).join(', '), timeTag(c.created_at)])));
      more.hidden = !cursor;
    } catch (error) { clear(body, notice(describe(error), 'error')); }
  }
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    history.replaceState(null, '', `/contacts?${new URLSearchParams(current())}`);
    load(true);
  });
  more.addEventListener('click', () => load(false));
  await load(true);
}
