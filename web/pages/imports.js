// Import and export: a CSV uploaded with a progress bar, its report row by row, the import undone;
// earlier imports; the contacts exported as CSV.
import { all, download, post, Problem, upload } from '../api.js';
import { t } from '../i18n.js';
import { clear, describe, h, messages, notice, table, timeTag, userName } from '../ui.js';
import { uploadForm } from './documents.js';

const importId = (report) => report.import_id || report.id || null;

async function undo(id, box) {
  try {
    await post(`/contacts/imports/${id}/undo`, {});
    clear(box, box.querySelector('h2'), notice(t('imp.undone'), 'ok')); // the heading names the region
  } catch (error) {
    box.append(notice(error instanceof Problem && error.status === 404 ? t('imp.no_undo') : describe(error), 'error'));
  }
}

function report(result) {
  const box = h('section', { class: 'card', 'aria-labelledby': 'report-title' });
  const id = importId(result);
  const wrong = (errors) => Object.entries(errors).map(([key, value]) => `${key}: ${messages(value).join(' ')}`).join('; ');
  clear(box, h('h2', { id: 'report-title', text: t('imp.report') }),
    h('ul', { class: 'tiles' }, ['created', 'updated', 'skipped', 'failed'].map((name) => h('li', { class: 'tile' },
      h('span', { class: 'value', text: String(result[name] ?? 0) }), h('span', { class: 'label', text: t(`imp.${name}`) })))),
    result.errors?.length ? table(t('imp.errors'), [t('imp.line'), t('imp.errors')],
      result.errors.map((row) => [String(row.line), wrong(row.errors)])) : null,
    id ? h('button', { type: 'button', text: t('imp.undo'), onclick: () => undo(id, box) }) : null);
  return box;
}

export async function render(main) {
  main.append(h('h1', { text: t('nav.imports') }));
  const results = h('div', { 'aria-live': 'polite' });
  const form = uploadForm(t('imp.upload'), [], async (_form, file, onProgress) => {
    const result = await upload('/contacts/import', file, { onProgress, contentType: 'text/csv' });
    clear(results, report(result));
    await history();
  });
  const past = h('section', { class: 'card', 'aria-labelledby': 'history-title' });
  main.append(
    h('section', { class: 'card', 'aria-labelledby': 'import-title' }, h('h2', { id: 'import-title', text: t('imp.title') }), form),
    results,
    h('section', { class: 'card', 'aria-labelledby': 'export-title' }, h('h2', { id: 'export-title', text: t('imp.export') }),
      h('p', { class: 'hint', text: t('imp.export_hint') }),
      h('button', { type: 'button', text: t('action.export'), onclick: () => download('/contacts/export', {}, 'contacts.csv') })),
    past);
  // `GET /contacts/imports` may be missing on an older server: then the section says so.
  async function history() {
    clear(past, h('h2', { id: 'history-title', text: t('imp.history') }));
    let items;
    try { items = await all('/contacts/imports', {}, 50); } catch (error) {
      past.append(h('p', { class: 'muted', text: error instanceof Problem && error.status === 404 ? t('imp.no_history') : describe(error) }));
      return;
    }
    past.append(table(t('imp.history'), [t('field.created'), t('field.user'), t('imp.created'), t('imp.failed'), t('field.status'), ''],
      items.map((item) => [timeTag(item.created_at), userName(item.actor || item.user_id || item.created_by),
        String(item.report?.created ?? ''), String(item.report?.failed ?? ''), item.undone_at ? t('imp.undone') : '',
        item.undone_at ? '' : h('button', { type: 'button', class: 'link', text: t('imp.undo'), onclick: () => undo(item.id, past) })])));
  }
  await history();
}
