// Documents: the list with filters, and an upload with its progress.
import { go } from '../app.js';
import { get, upload } from '../api.js';
import { t } from '../i18n.js';
import { clear, describe, field, h, input, notice, progressBar, select, showError, table, timeTag, values } from '../ui.js';

export const KINDS = ['contract', 'quote', 'invoice', 'letter', 'complaint', 'other'];
export const STATUSES = ['draft', 'in_review', 'approved', 'rejected', 'signed', 'archived'];

/** An upload form: a file with its progress; `fields` are the metadata inputs to send along. */
export function uploadForm(label, fields, send) {
  const file = h('input', { type: 'file', name: 'file', required: true });
  const progress = progressBar(label);
  progress.node.hidden = true;
  const form = h('form', { class: 'stack', 'aria-label': label }, fields, field(t('field.file'), file), progress.node,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: label })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    progress.node.hidden = false;
    progress.set(0);
    try { await send(form, file.files[0], progress.set); } catch (error) { showError(form, error); }
  });
  return form;
}

export async function render(main, { query }) {
  main.append(h('h1', { text: t('nav.documents') }));
  const create = uploadForm(t('doc.upload'), [
    field(t('field.title'), input('title', { required: true })),
    field(t('field.kind'), select('kind', KINDS.map((k) => [k, t(`dockind.${k}`)]))),
    h('input', { type: 'hidden', name: 'contact_id', value: query.get('contact_id') || '' }),
  ], async (form, file, onProgress) => {
    const body = new FormData();
    for (const [key, value] of Object.entries(values(form))) if (key !== 'file') body.append(key, value);
    body.append('file', file);
    const doc = await upload('/documents', body, { onProgress });
    go(`/documents/${doc.id}`);
  });
  const filters = h('form', { class: 'row filters', 'aria-label': t('list.filters') },
    field(t('field.kind'), select('kind', [['', t('list.all')], ...KINDS.map((k) => [k, t(`dockind.${k}`)])], { value: query.get('kind') || '' })),
    field(t('field.status'), select('status', [['', t('list.all')], ...STATUSES.map((s) => [s, t(`doc.${s}`)])],
      { value: query.get('status') || '' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', text: t('action.filter') })));
  const body = h('div', { 'aria-live': 'polite' });
  main.append(h('details', { open: query.get('contact_id') ? true : null }, h('summary', { text: t('doc.upload') }), create), filters, body);
  const load = async () => {
    try {
      const items = (await get('/documents', { ...values(filters), limit: 100 })).items;
      clear(body, table(t('nav.documents'), [t('field.title'), t('field.kind'), t('field.status'), t('field.version'), t('field.created')],
        items.map((d) => [h('a', { href: `/documents/${d.id}`, text: d.title }), t(`dockind.${d.kind}`), t(`doc.${d.status}`),
          String(d.current_version), timeTag(d.created_at)])));
    } catch (error) { clear(body, notice(describe(error), 'error')); }
  };
  filters.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  await load();
}
