// The ticket queue: per department, filtered by status, priority and assignee, ordered by SLA due
// time with a live countdown in the viewer's zone; breaches and escalations in plain sight.
import { all, get } from '../api.js';
import { t } from '../i18n.js';
import { clear, countdown, describe, field, h, notice, select, table, userName, values } from '../ui.js';

export const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

export async function departmentOptions() {
  const departments = await all('/departments').catch(() => []);
  return [['', t('list.all')], ...departments.map((d) => [d.id, d.name])];
}

export async function render(main, { query, me }) {
  main.append(h('h1', { text: t('nav.tickets') }));
  const filters = h('form', { class: 'row filters', 'aria-label': t('list.filters') },
    field(t('field.department'), select('department_id', await departmentOptions(), { value: query.get('department_id') || '' })),
    field(t('field.status'), select('status', [['', t('ticket.open_ones')], ...STATUSES.map((s) => [s, t(`status.${s}`)])],
      { value: query.get('status') || '' })),
    field(t('field.priority'), select('priority', [['', t('list.all')], ...PRIORITIES.map((p) => [p, t(`priority.${p}`)])],
      { value: query.get('priority') || '' })),
    field(t('field.assignee'), select('assignee_id', [['', t('list.all')], [me.id, t('ticket.mine')]], { value: query.get('assignee_id') || '' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', text: t('action.filter') })));
  const body = h('div', { 'aria-live': 'polite' });
  main.append(filters, body);
  const load = async () => {
    const wanted = values(filters);
    try {
      let items = (await get('/tickets', { ...wanted, sort: 'sla_due_at', limit: 200 })).items;
      if (!wanted.status) items = items.filter((ticket) => ['new', 'open', 'pending'].includes(ticket.status));
      const late = (x) => Boolean(x.breached_at) || (x.sla_due_at && new Date(x.sla_due_at) < new Date() && ['new', 'open', 'pending'].includes(x.status));
      items.sort((a, b) => (late(b) - late(a)) || String(a.sla_due_at).localeCompare(String(b.sla_due_at)));
      clear(body, table(t('nav.tickets'),
        [t('field.subject'), t('field.priority'), t('field.status'), t('field.assignee'), t('field.sla'), t('ticket.escalated')],
        items.map((x) => [h('a', { href: `/tickets/${x.id}`, text: x.subject }), t(`priority.${x.priority}`), t(`status.${x.status}`),
          userName(x.assignee_id), ['resolved', 'closed'].includes(x.status) ? '—' : countdown(x.sla_due_at, x.breached_at),
          x.escalated_to ? userName(x.escalated_to) : ''])));
    } catch (error) { clear(body, notice(describe(error), 'error')); }
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    history.replaceState(null, '', `/tickets?${new URLSearchParams(values(filters))}`);
    load();
  });
  await load();
}
