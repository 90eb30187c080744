// The deal board: a column per stage. A deal moves by drag and drop, or with the keyboard (its
// "move to" menu); lost asks for the reason; each deal shows its stage history on demand.
import { all, get, post } from '../api.js';
import { t } from '../i18n.js';
import { ask, clear, describe, field, h, input, money, notice, select, showError, timeTag, userName, values } from '../ui.js';
import { departmentOptions } from './tickets.js';

export const STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'];
const OPEN = ['lead', 'qualified', 'proposal', 'negotiation'];

/** The stages a deal in `stage` may move to (the pipeline's rules, so the menu offers no dead ends). */
export function nextStages(stage) {
  if (stage === 'won') return [];
  if (stage === 'lost') return ['lead'];
  const at = OPEN.indexOf(stage);
  const moves = [OPEN[at - 1], OPEN[at + 1]].filter(Boolean);
  if (['proposal', 'negotiation'].includes(stage)) moves.push('won');
  return [...moves, 'lost'];
}

export async function render(main, { query }) {
  const status = h('div', { role: 'status', class: 'board-status' });
  const filters = h('form', { class: 'row filters', 'aria-label': t('list.filters') },
    field(t('field.department'), select('department_id', await departmentOptions(), { value: query.get('department_id') || '' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', text: t('action.filter') })));
  const board = h('div', { class: 'board' });
  main.append(h('h1', { text: t('nav.deals') }), h('p', { class: 'hint', text: t('deal.drag') }), filters, status, board);

  const move = async (deal, stage) => {
    const body = { stage };
    if (stage === 'lost') {
      const reason = await ask(t('deal.lost_title', { title: deal.title }), t('field.lost_reason'));
      if (!reason) return;
      body.lost_reason = reason;
    }
    try {
      await post(`/deals/${deal.id}/transitions`, body);
      status.textContent = t('deal.moved', { title: deal.title, stage: t(`stage.${stage}`) });
      await load();
      board.querySelector(`[data-id="${deal.id}"] select`)?.focus();
    } catch (error) { clear(status, notice(describe(error), 'error')); }
  };

  const card = (deal) => {
    // Choosing a stage moves nothing yet: arrow keys walk a closed <select>'s options, each a change.
    const menu = select('stage', [['', t('deal.move_to')], ...nextStages(deal.stage).map((s) => [s, t(`stage.${s}`)])],
      { 'aria-label': t('deal.move_label', { title: deal.title }) });
    const moveButton = h('button', { type: 'button', text: t('deal.move'), 'aria-label': t('deal.move_button', { title: deal.title }),
      onclick: () => { if (menu.value) move(deal, menu.value); else menu.focus(); } });
    const history = h('div', { class: 'history' });
    const node = h('li', { class: 'deal', draggable: 'true', dataset: { id: deal.id } },
      h('strong', { text: deal.title }),
      h('span', { class: 'amount', text: money(deal.amount, deal.currency) }),
      h('a', { href: `/contacts/${deal.contact_id}`, text: t('deal.contact') }),
      h('span', { class: 'muted', text: userName(deal.owner_id) }),
      deal.lost_reason ? h('span', { class: 'muted', text: deal.lost_reason }) : null,
      nextStages(deal.stage).length ? h('div', { class: 'move' }, menu, moveButton) : null,
      h('button', { type: 'button', class: 'link', text: t('deal.history'), 'aria-expanded': 'false', onclick: async (event) => {
        const open = event.target.getAttribute('aria-expanded') === 'true';
        event.target.setAttribute('aria-expanded', String(!open));
        if (open) { clear(history); return; }
        const steps = (await get(`/deals/${deal.id}/history`)).items;
        clear(history, h('ol', {}, steps.map((s) => h('li', {}, timeTag(s.changed_at), ' ',
          `${s.from_stage ? `${t(`stage.${s.from_stage}`)} → ` : ''}${t(`stage.${s.to_stage}`)}`,
          ` · ${userName(s.changed_by)}`, s.note ? ` · ${s.note}` : ''))));
      } }), history);
    node.addEventListener('dragstart', (event) => { event.dataTransfer.setData('text/plain', deal.id); });
    return node;
  };

  async function load() {
    let deals;
    try { deals = await all('/deals', { department_id: values(filters).department_id }, 1000); } catch (error) {
      clear(board, notice(describe(error), 'error')); return;
    }
    const byId = new Map(deals.map((d) => [d.id, d]));
    clear(board, STAGES.map((stage) => {
      const here = deals.filter((d) => d.stage === stage);
      const sums = {};
      for (const d of here) sums[d.currency || ''] = (sums[d.currency || ''] || 0) + Number(d.amount || 0);
      const column = h('section', { class: `column stage-${stage}`, 'aria-labelledby': `col-${stage}` },
        h('h2', { id: `col-${stage}` }, t(`stage.${stage}`), h('span', { class: 'count', text: ` ${here.length}` })),
        h('p', { class: 'muted', text: Object.entries(sums).map(([c, v]) => money(v, c)).join(' · ') }),
        h('ul', { class: 'cards' }, here.map(card)));
      column.addEventListener('dragover', (event) => { event.preventDefault(); column.classList.add('over'); });
      column.addEventListener('dragleave', () => column.classList.remove('over'));
      column.addEventListener('drop', (event) => {
        event.preventDefault();
        column.classList.remove('over');
        const deal = byId.get(event.dataTransfer.getData('text/plain'));
        if (deal && deal.stage !== stage) move(deal, stage);
      });
      return column;
    }));
  }
  filters.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  await load();
}

/** A form for a new deal of `contact`; `onCreated(deal)` once saved. */
export function dealForm(contact, onCreated) {
  const form = h('form', { class: 'stack', 'aria-label': t('deal.new') },
    field(t('field.title'), input('title', { required: true })),
    h('div', { class: 'row' },
      field(t('field.amount'), input('amount', { inputmode: 'decimal' })),
      field(t('field.currency'), input('currency', { value: 'EUR', maxlength: 3 }))),
    field(t('field.expected_close'), input('expected_close', { type: 'date' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('deal.create') })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try { onCreated(await post('/deals', { ...values(form), contact_id: contact.id })); } catch (error) { showError(form, error); }
  });
  return form;
}
