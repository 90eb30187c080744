// The contact card: details and custom fields edited in place (a conflicting edit is shown, never
// overwritten silently), possible duplicates with a merge that can be undone, a call logged in two
// clicks and a sentence, a ticket opened from that call, and the timeline of everything, newest first.
import { go, session } from '../app.js';
import { get, patch, post, Problem } from '../api.js';
import { t } from '../i18n.js';
import {
  clear, clearErrors, describe, field, h, input, keepDraft, money, notice, select, showError, timeTag, userName, values,
} from '../ui.js';
import { contactBody, contactLabel } from './contacts.js';
import { dealForm } from './deals.js';

const CHANNELS = ['call', 'email', 'meeting', 'chat', 'note', 'order', 'complaint'];
const DIRECTIONS = ['inbound', 'outbound', 'internal'];
const LISTS = ['emails', 'phones', 'tags'];

export async function render(main, { params: [id], query }) {
  const [contact, definitions] = await Promise.all([get(`/contacts/${id}`), get('/contact-fields').catch(() => ({ items: [] }))]);
  const title = h('h1', { text: contactLabel(contact) });
  const details = h('section', { class: 'card', 'aria-labelledby': 'details-title' });
  const actions = h('section', { class: 'card', 'aria-labelledby': 'log-title' });
  const duplicates = h('section', { class: 'card', 'aria-labelledby': 'dup-title' });
  const timeline = h('section', { class: 'card wide', 'aria-labelledby': 'timeline-title' });
  const more = h('section', { class: 'card', 'aria-labelledby': 'more-title' });
  main.append(title, h('div', { class: 'grid' }, details, actions, h('div', { class: 'stack' }, duplicates, more), timeline));
  const refreshTimeline = () => renderTimeline(timeline, id);
  renderSales(more, contact, refreshTimeline);
  renderDetails(details, contact, definitions.items, (saved) => { title.textContent = contactLabel(saved); });
  renderLogCall(actions, contact, query.get('call'), refreshTimeline);
  renderDuplicates(duplicates, id);
  await refreshTimeline();
}

function fieldControl(definition, value) {
  const name = `attributes.${definition.key}`;
  if (definition.type === 'bool') return h('input', { type: 'checkbox', name, checked: Boolean(value) });
  if (definition.type === 'choice') {
    return select(name, [['', '—'], ...definition.choices.map((c) => [c, c])], { value: value ?? '' });
  }
  const type = { number: 'number', date: 'date' }[definition.type] || 'text';
  return input(name, { type, value: value ?? '', step: type === 'number' ? 'any' : null });
}

/** The form's values as the changes to PATCH: only what differs from `contact`. */
function changes(form, contact, definitions) {
  const data = values(form);
  const out = {};
  for (const key of ['first_name', 'last_name', 'timezone']) {
    if ((data[key] || '') !== (contact[key] || '')) out[key] = data[key] || (key === 'timezone' ? null : '');
  }
  const lists = contactBody(Object.fromEntries(LISTS.map((key) => [key, data[key] || ''])));
  for (const key of LISTS) if (JSON.stringify(lists[key]) !== JSON.stringify(contact[key] || [])) out[key] = lists[key];
  if (data.marketing_consent !== Boolean(contact.marketing_consent)) out.marketing_consent = data.marketing_consent;
  const attributes = { ...(contact.attributes || {}) };
  let touched = false;
  for (const definition of definitions) {
    const raw = data[`attributes.${definition.key}`];
    let value = raw === undefined ? null : raw;
    if (definition.type === 'number' && value !== null) value = Number(value);
    if (definition.type === 'bool') value = Boolean(raw);
    if (JSON.stringify(value ?? null) !== JSON.stringify(attributes[definition.key] ?? null)) {
      touched = true;
      if (value === null) delete attributes[definition.key]; else attributes[definition.key] = value;
    }
  }
  if (touched) out.attributes = attributes;
  return out;
}

function renderDetails(box, contact, definitions, onSaved) {
  let shown = contact;
  const form = h('form', { class: 'stack', 'aria-labelledby': 'details-title' },
    h('div', { class: 'row' },
      field(t('field.first_name'), input('first_name', { value: contact.first_name || '' })),
      field(t('field.last_name'), input('last_name', { value: contact.last_name || '' }))),
    field(t('field.phones'), input('phones', { value: (contact.phones || []).join(', ') }), t('hint.list')),
    field(t('field.emails'), input('emails', { value: (contact.emails || []).join(', ') }), t('hint.list')),
    field(t('field.tags'), input('tags', { value: (contact.tags || []).join(', ') }), t('hint.list')),
    field(t('field.timezone'), input('timezone', { value: contact.timezone || '' })),
    h('div', { class: 'check' }, h('input', { type: 'checkbox', name: 'marketing_consent', id: 'consent', checked: contact.marketing_consent }),
      h('label', { for: 'consent', text: t('field.marketing_consent') })),
    definitions.map((definition) => (definition.type === 'bool'
      ? h('div', { class: 'check' }, Object.assign(fieldControl(definition, contact.attributes?.[definition.key]), { id: `attr-${definition.key}` }),
        h('label', { for: `attr-${definition.key}`, text: definition.label }))
      : field(definition.label + (definition.required ? ' *' : ''), fieldControl(definition, contact.attributes?.[definition.key])))),
    h('div', { class: 'conflict', hidden: true, role: 'alert' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('action.save') }),
      h('span', { class: 'saved', role: 'status' })));
  const conflict = form.querySelector('.conflict');
  const saved = form.querySelector('.saved');
  const save = async (version) => {
    const body = changes(form, shown, definitions);
    if (!Object.keys(body).length) { saved.textContent = t('contact.unchanged'); return; }
    try {
      shown = await patch(`/contacts/${contact.id}`, body, version);
      clearErrors(form);
      conflict.hidden = true;
      saved.textContent = t('contact.saved');
      onSaved(shown);
    } catch (error) {
      if (error instanceof Problem && error.status === 412) await showConflict(body);
      else showError(form, error);
    }
  };
  // Someone saved meanwhile: show their values beside what was typed; the user chooses.
  const showConflict = async (mine) => {
    const theirs = await get(`/contacts/${contact.id}`);
    const rows = Object.keys(mine).map((key) => h('tr', {}, h('th', { scope: 'row', text: key }),
      h('td', { text: JSON.stringify(theirs[key] ?? '') }), h('td', { text: JSON.stringify(mine[key]) })));
    clear(conflict,
      h('p', { text: t('contact.conflict', { who: userName(theirs.updated_by), version: theirs.version }) }),
      h('table', {}, h('caption', { text: t('contact.conflict_table') }),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('field.field') }), h('th', { scope: 'col', text: t('contact.theirs') }),
          h('th', { scope: 'col', text: t('contact.mine') }))), h('tbody', {}, rows)),
      h('div', { class: 'actions' },
        h('button', { type: 'button', text: t('contact.keep_mine'), onclick: () => save(theirs.version) }),
        h('button', { type: 'button', text: t('contact.take_theirs'), onclick: () => { renderDetails(box, theirs, definitions, onSaved); } })));
    conflict.hidden = false;
    shown = { ...theirs, version: shown.version };
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); saved.textContent = ''; save(shown.version); });
  clear(box, h('h2', { id: 'details-title', text: t('contact.details') }), form,
    h('p', { class: 'muted' }, t('field.created'), ' ', timeTag(contact.created_at), ' · ', t('field.owner'), ' ', userName(contact.owner_id)));
}

function renderLogCall(box, contact, callerNumber, refresh) {
  const subject = input('subject', { required: true, autocomplete: 'off' });
  const form = h('form', { class: 'stack', 'aria-labelledby': 'log-title' },
    h('div', { class: 'row' },
      field(t('field.channel'), select('channel', CHANNELS.map((c) => [c, t(`channel.${c}`)]))),
      field(t('field.direction'), select('direction', DIRECTIONS.map((d) => [d, t(`direction.${d}`)])))),
    field(t('call.subject'), subject),
    field(t('field.outcome'), input('outcome', { list: 'outcomes' })),
    h('datalist', { id: 'outcomes' }, ['resolved', 'callback', 'ticket opened', 'sale', 'no answer'].map((o) => h('option', { value: o }))),
    h('fieldset', {}, h('legend', { text: t('call.requirement') }),
      h('div', { class: 'row' },
        field(t('field.topic'), input('topic')),
        field(t('field.priority'), select('req_priority', ['normal', 'high', 'low'].map((p) => [p, t(`priority.${p}`)])))),
      field(t('field.detail'), input('detail'))),
    field(t('call.notes'), h('textarea', { name: 'body', rows: 3 })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('call.log') })));
  const draft = keepDraft(form, `call-${contact.id}`);
  const after = h('div', { class: 'after' });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = values(form);
    const body = { contact_id: contact.id, channel: data.channel, direction: data.direction, subject: data.subject || '',
      outcome: data.outcome || null, body: data.body || '' };
    if (data.topic) body.requirements = [{ topic: data.topic, detail: data.detail || '', priority: data.req_priority }];
    try {
      const call = await post('/interactions', body);
      draft.forget();
      form.reset();
      clear(after, notice(t('call.logged'), 'ok'),
        h('button', { type: 'button', class: 'primary', text: t('call.ticket'), onclick: () => openTicket(after, call) }));
      after.querySelector('button').focus();
      refresh();
    } catch (error) {
      if (error instanceof Problem && error.errors.requirements) {
        error.errors.topic = error.errors.requirements; delete error.errors.requirements;
      }
      showError(form, error);
    }
  });
  clear(box, h('h2', { id: 'log-title', text: callerNumber ? t('call.incoming', { number: callerNumber }) : t('call.title') }), form, after);
  if (callerNumber) subject.focus();
}

/** "Open a ticket from this call": its subject, notes and requirement carried over. */
function openTicket(box, call) {
  const requirement = (call.requirements || [])[0];
  const description = [call.body, ...(call.requirements || []).map((r) => `${r.topic}: ${r.detail}`)].filter(Boolean).join('\n');
  const form = h('form', { class: 'stack', 'aria-label': t('ticket.new') },
    field(t('field.subject'), input('subject', { value: call.subject || '', required: true })),
    field(t('field.priority'), select('priority', ['normal', 'high', 'urgent', 'low'].map((p) => [p, t(`priority.${p}`)]),
      { value: requirement?.priority === 'high' ? 'high' : 'normal' })),
    field(t('field.description'), h('textarea', { name: 'description', rows: 3, value: description })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('ticket.create') })));
  if (requirement?.priority === 'high') form.elements.priority.value = 'high';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      // the agent who took the call keeps its ticket (it shows on their desk)
      const ticket = await post('/tickets', { ...values(form), contact_id: call.contact_id, interaction_id: call.id,
        assignee_id: session.me.id });
      go(`/tickets/${ticket.id}`);
    } catch (error) { showError(form, error); }
  });
  clear(box, h('h3', { text: t('ticket.new') }), form);
  form.elements.subject.focus();
}

// The merge just made on this card, kept in the tab across the re-render that shows the merged
// contact (its e-mails, phones, version and timeline), so its undo button is still offered there.
const MERGED = 'crm.merged';

async function renderDuplicates(box, id) {
  clear(box, h('h2', { id: 'dup-title', text: t('dup.title') }));
  const last = JSON.parse(sessionStorage.getItem(MERGED) || 'null');
  if (last && last.target === id) {
    const undo = h('button', { type: 'button', text: t('dup.undo'), onclick: async () => {
      try {
        await post(`/contacts/merges/${last.merge_id}/undo`, {});
        sessionStorage.removeItem(MERGED);
        go(`/contacts/${id}`, { replace: true });
      } catch (error) { box.append(notice(describe(error), 'error')); }
    } });
    box.append(notice(t('dup.merged', { name: last.name }), 'ok'), h('div', { class: 'actions' }, undo));
  } else if (last) {
    sessionStorage.removeItem(MERGED); // another card: that merge's undo is offered no longer
  }
  let found;
  try { found = (await get(`/contacts/${id}/duplicates`)).items; } catch (error) { box.append(notice(describe(error), 'error')); return; }
  if (!found.length) {
    if (!(last && last.target === id)) box.append(h('p', { class: 'muted', text: t('dup.none') }));
    return;
  }
  const list = h('ul', { class: 'results' });
  for (const candidate of found) {
    const other = await get(`/contacts/${candidate.id}`).catch(() => ({ id: candidate.id }));
    const merge = async (event) => {
      try {
        const merged = await post(`/contacts/${id}/merge`, { source_ids: [candidate.id] });
        sessionStorage.setItem(MERGED, JSON.stringify({ target: id, merge_id: merged.merge_id, name: contactLabel(other) }));
        await go(`/contacts/${id}`, { replace: true });
        document.querySelector('#main section[aria-labelledby="dup-title"] button')?.focus();
      } catch (error) { event.target.after(notice(describe(error), 'error')); }
    };
    list.append(h('li', {}, h('a', { href: `/contacts/${candidate.id}`, text: contactLabel(other) }),
      h('span', { class: 'muted', text: ` ${Math.round(candidate.score)}% · ${(candidate.reasons || []).join(', ')} ` }),
      h('button', { type: 'button', text: t('dup.merge'), 'aria-label': `${t('dup.merge')}: ${contactLabel(other)}`, onclick: merge })));
  }
  box.append(list);
}

const SUMMARY = {
  interaction: (e) => `${t(`channel.${e.channel}`)} · ${e.subject || ''}${e.outcome ? ` → ${e.outcome}` : ''}`,
  ticket: (e) => `${e.subject} · ${t(`status.${e.status}`)}`,
  deal: (e) => `${e.title} · ${money(e.amount, e.currency)} · ${t(`stage.${e.stage}`)}`,
  task: (e) => `${e.title} · ${e.status}`,
  document: (e) => `${e.title || e.filename} · ${t(`doc.${e.status}`)}`,
};
const LINK = { ticket: (e) => `/tickets/${e.id}`, document: (e) => `/documents/${e.id}` };

async function renderTimeline(box, id) {
  const list = h('ol', { class: 'timeline' });
  const more = h('button', { type: 'button', hidden: true, text: t('list.more') });
  clear(box, h('h2', { id: 'timeline-title', text: t('timeline.title') }), list, more);
  let cursor = null;
  const load = async () => {
    try {
      const page = await get(`/contacts/${id}/timeline`, { limit: 30, cursor });
      for (const item of page.items) {
        const text = (SUMMARY[item.kind] || (() => item.kind))(item.entity || {});
        const link = LINK[item.kind]?.(item.entity || { id: item.id });
        list.append(h('li', { class: `kind-${item.kind}` }, timeTag(item.occurred_at), ' ',
          h('span', { class: 'badge', text: t(`kind.${item.kind}`) }), ' ', link ? h('a', { href: link, text }) : text));
      }
      if (!page.items.length && !cursor) list.append(h('li', { class: 'muted', text: t('list.empty') }));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) { box.append(notice(describe(error), 'error')); }
  };
  more.addEventListener('click', load);
  await load();
}

/** A deal for the contact, a quote or contract generated for them, a document uploaded for them. */
function renderSales(box, contact, refresh) {
  const status = h('div', { role: 'status' });
  const generate = h('form', { class: 'stack', 'aria-label': t('doc.generate') },
    field(t('field.template'), select('template', [['quote', t('dockind.quote')], ['contract', t('dockind.contract')]])),
    field(t('field.title'), input('title', { required: true })),
    h('div', { class: 'row' }, field(t('field.amount'), input('amount', { inputmode: 'decimal', required: true })),
      field(t('field.currency'), input('currency', { value: 'EUR', maxlength: 3 }))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('doc.generate') })));
  generate.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = values(generate);
    try {
      const doc = await post('/documents/generate', { template: data.template, contact_id: contact.id,
        deal: { title: data.title, amount: data.amount, currency: data.currency || 'EUR' } });
      go(`/documents/${doc.id}`);
    } catch (error) { showError(generate, error); }
  });
  const task = h('form', { class: 'stack', 'aria-label': t('task.new') },
    field(t('field.title'), input('title', { required: true })),
    field(t('field.due'), input('due', { type: 'datetime-local', required: true })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('task.create') })));
  task.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = values(task);
    try {
      // the browser's clock reads the local time; the API gets it as an instant with its offset
      await post('/tasks', { title: data.title, due_at: new Date(data.due).toISOString(), contact_id: contact.id });
      task.reset();
      clear(status, notice(t('task.created', { title: data.title }), 'ok'));
      refresh();
    } catch (error) { showError(task, error); }
  });
  clear(box, h('h2', { id: 'more-title', text: t('contact.sales') }),
    h('details', {}, h('summary', { text: t('task.new') }), task),
    h('details', {}, h('summary', { text: t('deal.new') }), dealForm(contact, (deal) => {
      clear(status, notice(t('deal.created', { title: deal.title }), 'ok'));
      refresh();
    })),
    h('details', {}, h('summary', { text: t('doc.generate') }), generate),
    h('p', {}, h('a', { href: `/documents?contact_id=${contact.id}`, text: t('doc.upload') })), status);
}
