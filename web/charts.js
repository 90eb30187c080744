// Charts as inline SVG, each with the table of its numbers beside it and downloads as CSV and PNG
// (the PNG is the SVG drawn on a canvas in the browser: nothing leaves the page).
import { saveBlob } from './api.js';
import { t } from './i18n.js';
import { h, table } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1d4e89', '#b35c00', '#1e6b34', '#7b2d8e', '#b00020', '#4d5a66'];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

const csvCell = (value) => { const text = String(value ?? ''); return /[",\n;]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text; };
export const toCsv = (header, rows) => [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n');

function toPng(node, filename) {
  const { width, height } = node.viewBox.baseVal;
  const source = new XMLSerializer().serializeToString(node);
  const image = new Image();
  const url = URL.createObjectURL(new Blob([source], { type: 'image/svg+xml' }));
  image.onload = () => {
    const canvas = document.createElement('canvas');
    canvas.width = width * 2; canvas.height = height * 2;
    const context = canvas.getContext('2d');
    context.fillStyle = '#fff'; context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    URL.revokeObjectURL(url);
    canvas.toBlob((blob) => saveBlob(blob, filename), 'image/png');
  };
  image.src = url;
}

/**
 * A bar chart of `series` ([{name, values}]) over `labels`, the table of the same numbers beside it,
 * and its CSV and PNG downloads. `format(value)` writes a number for people.
 */
export function barChart(title, labels, series, { format = (v) => String(v ?? ''), horizontal = false, file = 'chart' } = {}) {
  const width = 640; const rowHeight = 26; const left = horizontal ? 150 : 40;
  const height = horizontal ? Math.max(80, labels.length * rowHeight * series.length + 30) : 260;
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => Number(v) || 0)));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('mgr.chart', { name: title }),
    xmlns: NS, 'font-family': 'sans-serif', 'font-size': '12' });
  chart.append(svg('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }));
  if (horizontal) {
    labels.forEach((label, i) => series.forEach((s, j) => {
      const y = 10 + (i * series.length + j) * rowHeight;
      const value = Number(s.values[i]) || 0;
      const w = ((width - left - 90) * value) / max;
      chart.append(svg('text', { x: left - 6, y: y + 16, 'text-anchor': 'end', fill: '#1b1f24' }, j === 0 ? String(label) : ''),
        svg('rect', { x: left, y: y + 3, width: Math.max(w, 1), height: rowHeight - 8, fill: COLOURS[j % COLOURS.length] }),
        svg('text', { x: left + w + 6, y: y + 16, fill: '#1b1f24' }, format(s.values[i])));
    }));
  } else {
    const plot = height - 50; const slot = (width - left - 10) / Math.max(1, labels.length);
    const bar = Math.max(2, (slot - 6) / series.length);
    chart.append(svg('line', { x1: left, y1: plot + 10, x2: width - 10, y2: plot + 10, stroke: '#535a63' }),
      svg('text', { x: left - 4, y: 16, 'text-anchor': 'end', fill: '#535a63' }, format(max)));
    labels.forEach((label, i) => {
      series.forEach((s, j) => {
        const value = Number(s.values[i]) || 0;
        const barHeight = (plot * value) / max;
        chart.append(svg('rect', { x: left + i * slot + 3 + j * bar, y: plot + 10 - barHeight, width: bar, height: Math.max(barHeight, 0),
          fill: COLOURS[j % COLOURS.length] }));
      });
      const every = Math.ceil(labels.length / 12);
      if (i % every === 0) {
        chart.append(svg('text', { x: left + i * slot + slot / 2, y: plot + 26, 'text-anchor': 'middle', fill: '#1b1f24' }, axisLabel(label)));
      }
    });
  }
  series.forEach((s, j) => chart.append(svg('text', { x: width - 10, y: height - 6 - j * 14, 'text-anchor': 'end', fill: COLOURS[j % COLOURS.length] }, s.name)));
  const header = ['', ...series.map((s) => s.name)];
  const rows = labels.map((label, i) => [String(label), ...series.map((s) => format(s.values[i]))]);
  const raw = labels.map((label, i) => [label, ...series.map((s) => s.values[i])]);
  return h('figure', { class: 'chart' },
    h('figcaption', {}, title, ' ',
      h('button', { type: 'button', class: 'link', text: t('mgr.csv'), 'aria-label': `${t('mgr.csv')}: ${title}`,
        onclick: () => saveBlob(new Blob([toCsv(header, raw)], { type: 'text/csv' }), `${file}.csv`) }), ' ',
      h('button', { type: 'button', class: 'link', text: t('mgr.png'), 'aria-label': `${t('mgr.png')}: ${title}`,
        onclick: () => toPng(chart, `${file}.png`) })),
    chart, table(title, header, rows));
}

/** A bucket's label short enough for the axis: "W45" for 2026-W45, "11-30" for a day; a month stays whole.
 *  The table beside the chart keeps the full labels. */
export function axisLabel(label) {
  const text = String(label);
  const week = text.match(/^\d{4}-(W\d{2})$/);
  if (week) return week[1];
  return /^\d{4}-\d{2}-\d{2}/.test(text) ? text.slice(5, 10) : text.slice(0, 10);
}
