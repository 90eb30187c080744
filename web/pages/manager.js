// The manager's desk: KPI tiles for a period and department subtree, a KPI over time, the deal
// funnel with counts and amounts, plan against actual with the gap, a comparison of departments or
// people, and the overdue tasks and breached tickets below the manager with who owns each.
import { get } from '../api.js';
import { barChart } from '../charts.js';
import { t } from '../i18n.js';
import { clear, describe, field, h, input, localDay, notice, select, table, timeTag, userName, userZone, values, dateTime } from '../ui.js';
import { departmentOptions } from './tickets.js';

const COUNTS = ['contacts_created', 'interactions', 'tickets_opened', 'tickets_resolved', 'deals_created', 'deals_won', 'deals_lost',
  'tasks_completed', 'tasks_overdue', 'campaign_responses'];
const TILES = ['contacts_created', 'interactions', 'tickets_opened', 'tickets_resolved', 'first_response_time', 'sla_compliance',
  'deals_won', 'won_amount', 'tasks_overdue'];

/** A KPI value in words: counts as numbers, durations as hours or minutes, shares as %, amounts per currency. */
export function kpiText(name, value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return String(value);
  if (name === 'sla_compliance') return value.share === null ? '—' : `${Math.round(value.share * 1000) / 10}%`;
  if ('median' in value) {
    if (value.median === null) return '—';
    const minutes = value.median / 60;
    return minutes >= 90 ? `${(minutes / 60).toFixed(1)} ${t('unit.h')}` : `${Math.round(minutes)} ${t('unit.min')}`;
  }
  const amounts = Object.entries(value);
  return amounts.length ? amounts.map(([currency, amount]) => `${amount} ${currency}`).join(' · ') : '0';
}

function section(id, title, ...children) {
  return h('section', { class: 'card wide', 'aria-labelledby': id }, h('h2', { id, text: title }), ...children);
}

export async function render(main, { query, me }) {
  const today = localDay();
  const monthAgo = localDay(new Date(Date.now() - 29 * 86400_000));
  const filters = h('form', { class: 'row filters', 'aria-label': t('mgr.period') },
    field(t('field.from'), input('from', { type: 'date', value: query.get('from') || monthAgo })),
    field(t('field.to'), input('to', { type: 'date', value: query.get('to') || today })),
    field(t('field.department'), select('department_id', await departmentOptions(), { value: query.get('department_id') || '' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('action.show') })));
  const body = h('div', { class: 'grid' });
  main.append(h('h1', { text: t('mgr.title') }), filters, body);
  const load = async () => {
    const wanted = values(filters);
    const common = { from: wanted.from, to: wanted.to, tz: userZone(), department_id: wanted.department_id };
    history.replaceState(null, '', `/manager?${new URLSearchParams(wanted)}`);
    clear(body);
    const parts = [tiles(common), trend(common), funnel(common), plan(common, wanted), compare(common),
      me.role === 'analyst' ? null : overdue(wanted), me.role === 'analyst' ? null : breached(wanted)].filter(Boolean);
    for (const part of parts) body.append(part.node);
    await Promise.all(parts.map((part) => part.load()));
  };
  filters.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  await load();
}

function part(id, title, fill, ...controls) {
  const content = h('div', { 'aria-busy': 'true' });
  const node = section(id, title, ...controls, content);
  return { node, async load() {
    try { clear(content, await fill()); } catch (error) { clear(content, notice(describe(error), 'error')); }
    content.removeAttribute('aria-busy');
  } };
}

function tiles(common) {
  return part('kpi-title', t('mgr.kpis'), async () => {
    const report = await get('/reports/kpis', { ...common, kpi: TILES.join(',') });
    return [h('ul', { class: 'tiles' }, TILES.map((name) => h('li', { class: 'tile', dataset: { kpi: name } },
      h('span', { class: 'value', text: kpiText(name, report.kpis[name]) }), h('span', { class: 'label', text: t(`kpi.${name}`) })))),
    report.fresh_as_of ? h('p', { class: 'hint', text: t('mgr.fresh', { time: dateTime(report.fresh_as_of.event_occurred_at) }) }) : null];
  });
}

function trend(common) {
  const kpi = select('kpi', COUNTS.map((name) => [name, t(`kpi.${name}`)]), { value: 'interactions' });
  const group = select('group_by', ['day', 'week', 'month'].map((g) => [g, t(`mgr.group.${g}`)]), { value: 'week' });
  const result = part('trend-title', t('mgr.trend'), async () => {
    const report = await get('/reports/kpis', { ...common, kpi: kpi.value, group_by: group.value });
    return barChart(t(`kpi.${kpi.value}`), report.groups.map((g) => g.label), [{ name: t(`kpi.${kpi.value}`), values: report.groups.map((g) => g.kpis[kpi.value]) }],
      { file: `${kpi.value}-by-${group.value}` });
  }, h('div', { class: 'row' }, field(t('mgr.metric'), kpi), field(t('mgr.group'), group)));
  kpi.addEventListener('change', () => result.load());
  group.addEventListener('change', () => result.load());
  return result;
}

function funnel(common) {
  return part('funnel-title', t('mgr.funnel'), async () => {
    const report = await get('/reports/funnel', common);
    const currencies = [...new Set(report.stages.flatMap((s) => Object.keys(s.amount || {})))];
    const labels = report.stages.map((s) => t(`stage.${s.stage}`));
    return [barChart(t('mgr.funnel'), labels, [{ name: t('mgr.reached'), values: report.stages.map((s) => s.reached) }], { horizontal: true, file: 'funnel' }),
      table(`${t('mgr.funnel')}: ${t('mgr.conversion')}, ${t('mgr.amount')}`, [t('field.status'), t('mgr.reached'), t('mgr.conversion'), ...currencies.map((c) => `${t('mgr.amount')} ${c}`)],
        report.stages.map((s) => [t(`stage.${s.stage}`), String(s.reached),
          s.conversion_to_next === null ? '—' : `${Math.round(s.conversion_to_next * 1000) / 10}%`,
          ...currencies.map((c) => (s.amount || {})[c] || '0')]))];
  });
}

function plan(common, wanted) {
  return part('plan-title', t('mgr.plan'), async () => {
    const period = (wanted.to || localDay()).slice(0, 7);
    const report = await get('/reports/plan-vs-actual', { period, tz: common.tz, department_id: common.department_id });
    const departments = new Map(await departmentOptions());
    const rows = report.plans.map((row) => ({
      label: `${t(`kpi.${row.plan.metric}`)} · ${row.plan.user_id ? userName(row.plan.user_id) : departments.get(row.plan.department_id) || ''}`,
      target: Number(row.plan.value), actual: Number(row.actual ?? 0), percentage: row.percentage }));
    return [h('p', { class: 'hint', text: `${t('mgr.month')}: ${period}` }),
      barChart(t('mgr.plan'), rows.map((r) => r.label), [{ name: t('mgr.plan_value'), values: rows.map((r) => r.target) },
        { name: t('mgr.actual'), values: rows.map((r) => r.actual) }], { horizontal: true, file: `plan-${period}` }),
      table(`${t('mgr.plan')}: ${t('mgr.gap')}`, [t('mgr.metric'), t('mgr.plan_value'), t('mgr.actual'), t('mgr.gap'), t('mgr.percent')],
        rows.map((r) => [r.label, String(r.target), String(r.actual), String(Math.round((r.target - r.actual) * 100) / 100),
          r.percentage === null || r.percentage === undefined ? '—' : `${r.percentage}%`]))];
  });
}

function compare(common) {
  const by = select('by', [['department', t('mgr.group.department')], ['user', t('mgr.group.user')]]);
  const shown = ['interactions', 'tickets_resolved', 'deals_won', 'tasks_overdue'];
  const result = part('compare-title', t('mgr.compare'), async () => {
    const report = await get('/reports/kpis', { ...common, group_by: by.value, kpi: [...shown, 'sla_compliance'].join(',') });
    const labels = report.groups.map((g) => (by.value === 'user' ? userName(g.key) : g.label));
    return [barChart(t('mgr.compare'), labels, shown.slice(0, 3).map((name) => ({ name: t(`kpi.${name}`), values: report.groups.map((g) => g.kpis[name]) })),
      { horizontal: true, file: `compare-${by.value}` }),
    table(`${t('mgr.compare')}: ${t(`mgr.group.${by.value}`)}`, [t('mgr.group'), ...[...shown, 'sla_compliance'].map((n) => t(`kpi.${n}`))],
      report.groups.map((g, i) => [labels[i], ...[...shown, 'sla_compliance'].map((n) => kpiText(n, g.kpis[n]))]))];
  }, field(t('mgr.by'), by));
  by.addEventListener('change', () => result.load());
  return result;
}

function overdue(wanted) {
  return part('overdue-title', t('mgr.overdue'), async () => {
    const items = (await get('/tasks/overdue', { department_id: wanted.department_id, limit: 100 })).items;
    return table(t('mgr.overdue'), [t('field.title'), t('field.assignee'), t('field.due')], items.map((task) => [
      task.contact_id ? h('a', { href: `/contacts/${task.contact_id}`, text: task.title }) : task.title,
      userName(task.assignee_id), h('span', { class: 'late' }, timeTag(task.due_at))]));
  });
}

function breached(wanted) {
  return part('breached-title', t('mgr.breached'), async () => {
    const items = (await get('/tickets', { department_id: wanted.department_id, sort: 'sla_due_at', limit: 200 })).items
      .filter((x) => ['new', 'open', 'pending'].includes(x.status) && (x.breached_at || (x.sla_due_at && new Date(x.sla_due_at) < new Date())));
    return table(t('mgr.breached'), [t('field.subject'), t('field.assignee'), t('ticket.escalated'), t('field.sla')], items.map((x) => [
      h('a', { href: `/tickets/${x.id}`, text: x.subject }), userName(x.assignee_id), x.escalated_to ? userName(x.escalated_to) : '',
      h('span', { class: 'late' }, timeTag(x.sla_due_at))]));
  });
}
