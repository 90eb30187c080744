// One ticket: its SLA, the moves its workflow allows, and comments (internal, or to the customer).
import { get, post } from '../api.js';
import { t } from '../i18n.js';
import { clear, countdown, describe, field, h, keepDraft, notice, showError, timeTag, userName } from '../ui.js';

// The due time with the viewer's zone named: colleagues in other zones read other clock times.
const WITH_ZONE = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' };
const NEXT = { new: ['open'], open: ['pending', 'resolved'], pending: ['open'], resolved: ['closed', 'open'], closed: ['open'] };

export async function render(main, { params: [id] }) {
  const box = h('div');
  main.append(box);
  const draw = async () => {
    const [ticket, comments] = await Promise.all([get(`/tickets/${id}`), get(`/tickets/${id}/comments`)]);
    const moves = h('div', { class: 'actions', role: 'group', 'aria-label': t('ticket.moves') },
      (NEXT[ticket.status] || []).map((status) => h('button', { type: 'button', text: t(status === 'open' && ['resolved', 'closed'].includes(ticket.status) ? 'move.reopen' : `move.${status}`), onclick: async (event) => {
        try {
          await post(`/tickets/${id}/transitions`, { status });
          await draw();
          box.querySelector('[role="group"] button')?.focus(); // the keyboard stays where the moves are
        } catch (error) {
          event.target.after(notice(describe(error), 'error'));
        }
      } })));
    const comment = h('form', { class: 'stack', 'aria-label': t('ticket.comment') },
      field(t('ticket.comment'), h('textarea', { name: 'body', rows: 3, required: true })),
      h('div', { class: 'check' }, h('input', { type: 'checkbox', name: 'internal', id: 'internal', checked: true }),
        h('label', { for: 'internal', text: t('ticket.internal') })),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('ticket.add_comment') })));
    const draft = keepDraft(comment, `comment-${id}`);
    comment.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await post(`/tickets/${id}/comments`, { body: comment.elements.body.value, internal: comment.elements.internal.checked });
        draft.forget();
        await draw();
      } catch (error) { showError(comment, error); }
    });
    clear(box,
      h('h1', { text: ticket.subject }),
      h('div', { class: 'grid' },
        h('section', { class: 'card', 'aria-label': t('contact.details') },
          h('dl', { class: 'facts' },
            h('dt', { text: t('field.status') }), h('dd', { text: t(`status.${ticket.status}`) }),
            h('dt', { text: t('field.priority') }), h('dd', { text: t(`priority.${ticket.priority}`) }),
            ['resolved', 'closed'].includes(ticket.status)
              ? [h('dt', { text: t('status.resolved') }), h('dd', {}, timeTag(ticket.resolved_at))]
              : [h('dt', { text: t('field.sla') }), h('dd', {}, countdown(ticket.sla_due_at, ticket.breached_at))],
            ticket.sla_due_at ? [h('dt', { text: t('field.due') }), h('dd', { class: 'due' }, timeTag(ticket.sla_due_at, WITH_ZONE))] : null,
            h('dt', { text: t('field.assignee') }), h('dd', { text: userName(ticket.assignee_id) }),
            h('dt', { text: t('field.contact') }), h('dd', {}, h('a', { href: `/contacts/${ticket.contact_id}`, text: t('ticket.to_contact') })),
            ticket.first_response_at ? [h('dt', { text: t('ticket.first_response') }), h('dd', {}, timeTag(ticket.first_response_at))] : null,
            ticket.breached_at ? [h('dt', { text: t('ticket.breached') }), h('dd', { class: 'late' }, timeTag(ticket.breached_at))] : null,
            ticket.escalated_to ? [h('dt', { text: t('ticket.escalated') }), h('dd', { text: userName(ticket.escalated_to) })] : null),
          ticket.description ? h('p', { class: 'pre', text: ticket.description }) : null, moves),
        h('section', { class: 'card', 'aria-labelledby': 'comments-title' },
          h('h2', { id: 'comments-title', text: t('ticket.comments') }),
          comments.items.length ? null : h('p', { class: 'muted', text: t('list.empty') }),
          h('ol', { class: 'timeline' }, comments.items.map((c) => h('li', { class: c.internal ? 'internal' : '' },
            timeTag(c.created_at), ' ', h('strong', { text: userName(c.author_id || c.user_id) }), ' ',
            h('span', { class: 'badge', text: c.internal ? t('ticket.internal_badge') : t('ticket.public_badge') }),
            h('p', { class: 'pre', text: c.body })))),
          comment)));
  };
  await draw();
}
