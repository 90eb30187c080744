// One document: its versions (download any, upload a new one with progress), and its workflow:
// submit, approve or reject with a comment, sign, archive; the approval trail.
import { download, get, post, upload } from '../api.js';
import { t } from '../i18n.js';
import { clear, describe, field, fileSize, h, notice, table, timeTag, userName } from '../ui.js';
import { uploadForm } from './documents.js';

const ACTIONS = {
  draft: ['submit'], in_review: ['approve', 'reject'], rejected: ['resubmit', 'redraft'], approved: ['sign'], signed: ['archive'],
};

export async function render(main, { params: [id] }) {
  const box = h('div');
  main.append(box);
  const draw = async () => {
    const [doc, versions, trail] = await Promise.all([
      get(`/documents/${id}`), get(`/documents/${id}/versions`), get(`/documents/${id}/transitions`)]);
    const comment = h('textarea', { name: 'comment', rows: 2 });
    const result = h('div', { role: 'status' });
    const workflow = h('form', { class: 'stack', 'aria-labelledby': 'workflow-title' },
      h('h2', { id: 'workflow-title', text: t('doc.actions') }),
      field(t('field.comment'), comment),
      h('div', { class: 'actions' }, (ACTIONS[doc.status] || []).map((action) => h('button', {
        type: 'button', class: action === 'approve' ? 'primary' : '', text: t(`docaction.${action}`),
        onclick: async () => {
          try {
            await post(`/documents/${id}/transitions`, { action, comment: comment.value.trim() || null });
            await draw();
          } catch (error) { clear(result, notice(describe(error), 'error')); }
        },
      }))), result);
    const newVersion = uploadForm(t('doc.new_version'), [], async (form, file, onProgress) => {
      const body = new FormData();
      body.append('file', file);
      await upload(`/documents/${id}/versions`, body, { onProgress });
      await draw();
    });
    clear(box,
      h('h1', { text: doc.title }),
      h('div', { class: 'grid' },
        h('section', { class: 'card', 'aria-label': t('contact.details') },
          h('dl', { class: 'facts' },
            h('dt', { text: t('field.status') }), h('dd', { text: t(`doc.${doc.status}`) }),
            h('dt', { text: t('field.kind') }), h('dd', { text: t(`dockind.${doc.kind}`) }),
            h('dt', { text: t('field.version') }), h('dd', { text: String(doc.current_version) }),
            h('dt', { text: t('field.size') }), h('dd', { text: fileSize(doc.size) }),
            h('dt', { text: t('doc.sha') }), h('dd', { class: 'hash', text: doc.sha256 }),
            h('dt', { text: t('field.owner') }), h('dd', { text: userName(doc.uploaded_by) }),
            doc.contact_id ? [h('dt', { text: t('field.contact') }), h('dd', {}, h('a', { href: `/contacts/${doc.contact_id}`, text: t('ticket.to_contact') }))] : null),
          h('button', { type: 'button', text: `${t('doc.download')} (${doc.filename})`,
            onclick: () => download(`/documents/${id}/content`, {}, doc.filename) })),
        h('section', { class: 'card' }, workflow),
        h('section', { class: 'card wide', 'aria-labelledby': 'versions-title' }, h('h2', { id: 'versions-title', text: t('doc.versions') }),
          table(t('doc.versions'), [t('field.version'), t('field.file'), t('field.size'), t('field.owner'), t('field.created'), ''],
            versions.items.map((v) => [String(v.number), v.filename, fileSize(v.size), userName(v.uploaded_by), timeTag(v.created_at),
              h('button', { type: 'button', class: 'link', text: t('doc.download'), 'aria-label': `${t('doc.download')} ${t('field.version')} ${v.number}`,
                onclick: () => download(`/documents/${id}/content`, { version: v.number }, v.filename) })])),
          h('h3', { text: t('doc.new_version') }), newVersion),
        h('section', { class: 'card', 'aria-labelledby': 'trail-title' }, h('h2', { id: 'trail-title', text: t('doc.trail') }),
          trail.items.length ? null : h('p', { class: 'muted', text: t('list.empty') }),
          h('ol', { class: 'timeline' }, trail.items.map((step) => h('li', {}, timeTag(step.created_at), ' ',
            h('strong', { text: t(`docaction.${step.action}`) }), ` · ${userName(step.actor)}`,
            step.comment ? h('p', { class: 'pre', text: step.comment }) : null))))));
  };
  await draw();
}
