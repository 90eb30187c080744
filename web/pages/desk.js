// The agent's desk: find a contact as one types; the screen pop of an incoming call
// (/desk?phone=+4930...); my open tickets by SLA, my tasks due today or late, my recent calls.
import { go } from '../app.js';
import { get } from '../api.js';
import { t } from '../i18n.js';
import { clear, countdown, describe, h, localDay, notice, table, timeTag } from '../ui.js';
import { contactForm, contactLabel, contactSearch } from './contacts.js';

const OPEN = ['new', 'open', 'pending'];

export async function render(main, { query, me }) {
  main.append(h('h1', { text: t('desk.title') }));
  const phone = query.get('phone');
  if (phone) await screenPop(main, phone);
  main.append(h('section', { 'aria-labelledby': 'find-title' },
    h('h2', { id: 'find-title', text: t('desk.find') }), contactSearch()));
  const grid = h('div', { class: 'grid' });
  main.append(grid);
  const sections = [myTickets(me), myTasks(me), myCalls(me)];
  for (const section of sections) grid.append(section.node);
  await Promise.all(sections.map((section) => section.load()));
}

/** The caller's card at once when the number is known, a choice when several, else a new contact. */
async function screenPop(main, raw) {
  // A `+` in a query string reads as a space: what counts are the digits.
  const digits = raw.replace(/\D/g, '');
  const number = `+${digits}`;
  const box = h('section', { class: 'card pop', 'aria-labelledby': 'pop-title' },
    h('h2', { id: 'pop-title', text: t('pop.title', { number }) }));
  main.append(box);
  if (digits.length < 4) { box.append(notice(t('pop.bad'), 'error')); return; }
  let found;
  try { found = (await get('/contacts', { q: digits, limit: 10 })).items; } catch (error) {
    box.append(notice(describe(error), 'error')); return;
  }
  const exact = found.filter((contact) => (contact.phones || []).some((p) => p.replace(/\D/g, '') === digits));
  const matches = exact.length ? exact : found;
  if (matches.length === 1) { go(`/contacts/${matches[0].id}?call=${encodeURIComponent(number)}`, { replace: true }); return; }
  if (matches.length > 1) {
    box.append(h('p', { text: t('pop.several') }), h('ul', { class: 'results' }, matches.map((contact) => h('li', {},
      h('a', { href: `/contacts/${contact.id}?call=${encodeURIComponent(number)}`, text: contactLabel(contact) })))));
    return;
  }
  box.append(h('p', { text: t('pop.unknown') }),
    contactForm({ phones: number }, (contact) => go(`/contacts/${contact.id}?call=${encodeURIComponent(number)}`)));
}

function section(id, title, load) {
  const body = h('div', { class: 'section-body', 'aria-busy': 'true' });
  const node = h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, text: title }), body);
  return {
    node,
    async load() {
      try { clear(body, await load()); } catch (error) { clear(body, notice(describe(error), 'error')); }
      body.removeAttribute('aria-busy');
    },
  };
}

function myTickets(me) {
  return section('my-tickets', t('desk.tickets'), async () => {
    const items = (await get('/tickets', { assignee_id: me.id, sort: 'sla_due_at', limit: 100 })).items
      .filter((ticket) => OPEN.includes(ticket.status));
    const late = (ticket) => Boolean(ticket.breached_at) || (ticket.sla_due_at && new Date(ticket.sla_due_at) < new Date());
    items.sort((a, b) => (late(b) - late(a)) || String(a.sla_due_at).localeCompare(String(b.sla_due_at)));
    return table(t('desk.tickets'), [t('field.subject'), t('field.priority'), t('field.status'), t('field.sla')],
      items.map((ticket) => [
        h('a', { href: `/tickets/${ticket.id}`, text: ticket.subject }),
        t(`priority.${ticket.priority}`), t(`status.${ticket.status}`),
        countdown(ticket.sla_due_at, ticket.breached_at)]), { class: 'tickets' });
  });
}

function myTasks(me) {
  return section('my-tasks', t('desk.tasks'), async () => {
    const today = localDay();
    const items = (await get('/tasks', { assignee_id: me.id, status: 'open', sort: 'due_at', limit: 100 })).items
      .filter((task) => task.due_at && localDay(new Date(task.due_at)) <= today);
    return table(t('desk.tasks'), [t('field.title'), t('field.due')], items.map((task) => {
      const late = new Date(task.due_at) < new Date();
      return [task.contact_id ? h('a', { href: `/contacts/${task.contact_id}`, text: task.title }) : task.title,
        h('span', { class: late ? 'late' : '' }, timeTag(task.due_at), late ? ` (${t('task.late')})` : '')];
    }));
  });
}

function myCalls(me) {
  return section('my-calls', t('desk.calls'), async () => {
    const items = (await get('/interactions', { user_id: me.id, channel: 'call', limit: 10 })).items;
    return table(t('desk.calls'), [t('field.when'), t('field.subject'), t('field.outcome')], items.map((call) => [
      timeTag(call.occurred_at), h('a', { href: `/contacts/${call.contact_id}`, text: call.subject || t('channel.call') }),
      call.outcome || '']));
  });
}
