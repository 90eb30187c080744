// Administration (admins): users and roles, departments with their time zones and working hours,
// SLA policies, custom contact fields, and the audit log of any record.
import { all, del, get, patch, post } from '../api.js';
import { lang, t } from '../i18n.js';
import { ask, clear, clearErrors, describe, field, h, input, notice, select, showError, table, timeTag, userName, values } from '../ui.js';
import { PRIORITIES } from './tickets.js';

const TABS = ['users', 'departments', 'sla', 'fields', 'audit'];
const ROLES = ['agent', 'manager', 'analyst', 'admin'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const ENTITIES = ['contact', 'company', 'interaction', 'ticket', 'deal', 'task', 'campaign', 'document', 'plan', 'department', 'user'];
const FIELD_TYPES = ['text', 'number', 'date', 'choice', 'bool'];
const zones = () => (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : ['UTC', 'Europe/Berlin', 'Europe/Moscow']);

function createForm(label, fields, send, after) {
  const form = h('form', { class: 'stack', 'aria-label': label }, h('h2', { text: label }), fields,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('action.create') })), h('div', { role: 'status' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await send(values(form));
      form.reset();
      clearErrors(form);
      clear(form.querySelector('[role="status"]'), notice(t('adm.created'), 'ok'));
      await after();
    } catch (error) { showError(form, error); }
  });
  return h('section', { class: 'card' }, form);
}

export async function render(main, { query }) {
  const tab = TABS.includes(query.get('tab')) ? query.get('tab') : 'users';
  main.append(h('h1', { text: t('adm.title') }),
    h('nav', { class: 'tabs', 'aria-label': t('adm.title') }, TABS.map((name) => h('a', {
      href: `/admin?tab=${name}`, 'aria-current': name === tab ? 'page' : null, class: 'tab', text: t(`adm.${name}`) }))));
  const box = h('div', { class: 'grid' });
  main.append(box);
  await { users, departments, sla, fields, audit }[tab](box);
}

async function departmentChoices(top) {
  const list = await all('/departments');
  return [[...(top ? [['', top]] : [])], list.map((d) => [d.id, d.name])].flat();
}

async function users(box) {
  const list = h('section', { class: 'card wide', 'aria-label': t('adm.users') });
  const departments = await departmentChoices(t('adm.root'));
  const names = new Map(departments);
  const refresh = async () => {
    const items = await all('/users');
    clear(list, table(t('adm.users'), [t('field.name'), t('field.email'), t('field.role'), t('field.department'), t('field.timezone'), t('field.status'), ''],
      items.map((user) => [user.name, user.email,
        select('role', ROLES.map((r) => [r, t(`role.${r}`)]), { value: user.role, 'aria-label': `${t('field.role')}: ${user.email}`,
          onchange: async (event) => { try { await patch(`/users/${user.id}`, { role: event.target.value }); } catch (error) { list.prepend(notice(describe(error), 'error')); } } }),
        names.get(user.department_id) || '', user.timezone || '', user.active === false ? t('adm.inactive') : t('adm.active'),
        h('span', { class: 'actions' },
          h('button', { type: 'button', class: 'link', text: t('adm.set_password'), 'aria-label': `${t('adm.set_password')}: ${user.email}`, onclick: async () => {
            const password = await ask(t('adm.set_password'), t('adm.new_password'));
            if (password) { try { await patch(`/users/${user.id}`, { password }); list.prepend(notice(t('adm.saved'), 'ok')); } catch (error) { list.prepend(notice(describe(error), 'error')); } }
          } }),
          user.active === false ? null : h('button', { type: 'button', class: 'link', text: t('adm.deactivate'), 'aria-label': `${t('adm.deactivate')}: ${user.email}`,
            onclick: async () => { try { await del(`/users/${user.id}`); await refresh(); } catch (error) { list.prepend(notice(describe(error), 'error')); } } }))])));
  };
  box.append(createForm(t('adm.new_user'), [
    field(t('field.name'), input('name', { required: true })),
    field(t('field.email'), input('email', { type: 'email', required: true })),
    field(t('field.role'), select('role', ROLES.map((r) => [r, t(`role.${r}`)]))),
    field(t('field.department'), select('department_id', departments)),
    field(t('field.timezone'), input('timezone', { list: 'zones', value: 'Europe/Berlin' })),
    h('datalist', { id: 'zones' }, zones().map((zone) => h('option', { value: zone }))),
    field(t('field.password'), input('password', { type: 'password', autocomplete: 'new-password', required: true }), t('adm.password_hint')),
  ], (data) => post('/users', data), refresh), list);
  await refresh();
}

function workingHours(text) {
  const match = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec((text || '').trim());
  return match ? Object.fromEntries(DAYS.map((day) => [day, [[match[1], match[2]]]])) : undefined;
}

async function departments(box) {
  const list = h('section', { class: 'card wide', 'aria-label': t('adm.departments') });
  const refresh = async () => {
    const items = await all('/departments');
    const names = new Map(items.map((d) => [d.id, d.name]));
    clear(list, table(t('adm.departments'), [t('field.name'), t('field.parent'), t('field.timezone'), t('field.working_hours')],
      items.map((d) => [d.name, names.get(d.parent_id) || '', d.timezone,
        hoursText(d.working_hours)])));
  };
  box.append(createForm(t('adm.new_department'), [
    field(t('field.name'), input('name', { required: true })),
    field(t('field.parent'), select('parent_id', await departmentChoices(t('adm.root')))),
    field(t('field.timezone'), input('timezone', { list: 'zones', value: 'Europe/Berlin', required: true })),
    h('datalist', { id: 'zones' }, zones().map((zone) => h('option', { value: zone }))),
    field(t('field.working_hours'), input('working_hours', { value: '09:00-17:00' }), t('adm.hours_hint')),
  ], (data) => post('/departments', { ...data, working_hours: workingHours(data.working_hours) }), refresh), list);
  await refresh();
}

async function sla(box) {
  const list = h('section', { class: 'card wide', 'aria-label': t('adm.sla') });
  const departments = await departmentChoices();
  const names = new Map(departments);
  const refresh = async () => {
    const items = await all('/sla-policies');
    clear(list, table(t('adm.sla'), [t('field.department'), ...PRIORITIES.map((p) => t(`priority.${p}`))],
      items.map((policy) => [names.get(policy.department_id) || policy.department_id, ...PRIORITIES.map((p) => String(policy.targets?.[p] ?? ''))])));
  };
  box.append(createForm(t('adm.new_sla'), [
    field(t('field.department'), select('department_id', departments)),
    h('fieldset', {}, h('legend', { text: t('adm.targets') }), h('div', { class: 'row' },
      PRIORITIES.map((p) => field(t(`priority.${p}`), input(`targets.${p}`, { type: 'number', min: 1, required: true }))))),
  ], (data) => post('/sla-policies', { department_id: data.department_id,
    targets: Object.fromEntries(PRIORITIES.map((p) => [p, Number(data[`targets.${p}`])])) }), refresh), list);
  await refresh();
}

async function fields(box) {
  const list = h('section', { class: 'card wide', 'aria-label': t('adm.fields') });
  const refresh = async () => {
    const items = (await get('/contact-fields')).items;
    clear(list, table(t('adm.fields'), [t('field.key'), t('field.label'), t('field.type'), t('field.required'), t('field.choices')],
      items.map((f) => [f.key, f.label, f.type, f.required ? '✓' : '', (f.choices || []).join(', ')])));
  };
  box.append(createForm(t('adm.new_field'), [
    field(t('field.key'), input('key', { required: true, pattern: '[a-z0-9_]+' })),
    field(t('field.label'), input('label', { required: true })),
    field(t('field.type'), select('type', FIELD_TYPES.map((type) => [type, type]))),
    field(t('field.choices'), input('choices'), t('hint.list')),
    h('div', { class: 'check' }, h('input', { type: 'checkbox', name: 'required', id: 'field-required' }), h('label', { for: 'field-required', text: t('field.required') })),
  ], (data) => post('/contact-fields', { ...data, choices: (data.choices || '').split(',').map((c) => c.trim()).filter(Boolean) }), refresh), list);
  await refresh();
}

async function audit(box) {
  const result = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'row', 'aria-label': t('adm.audit') },
    field(t('adm.entity'), select('entity', ENTITIES.map((e) => [e, e]))), field(t('adm.entity_id'), input('id', { required: true })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('action.show') })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const items = (await get('/audit', values(form))).items;
      clear(result, table(t('adm.audit'), [t('field.when'), t('adm.actor'), t('field.type'), t('adm.changes')],
        items.map((entry) => [timeTag(entry.occurred_at), userName(entry.actor), entry.type,
          Object.entries(entry.changes || {}).map(([key, [before, after]]) => `${key}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`).join('; ')])));
    } catch (error) { showError(form, error); }
  });
  box.append(h('section', { class: 'card wide' }, h('h2', { text: t('adm.audit') }), form, result));
}

// 2024-01-01 was a Monday: the weekday names in the user's language come from Intl.
const WEEK = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const dayName = (day) => new Intl.DateTimeFormat(lang(), { weekday: 'short', timeZone: 'UTC' })
  .format(new Date(Date.UTC(2024, 0, 1 + WEEK.indexOf(day))));

/** A week of working hours in words: the working days only ("Mon 09:00-17:00; ..."), or around the clock. */
function hoursText(hours) {
  const days = WEEK.filter((day) => (hours?.[day] || []).length);
  if (!days.length) return t('adm.around_clock');
  return days.map((day) => `${dayName(day)} ${hours[day].map((span) => span.join('-')).join(', ')}`).join('; ');
}
