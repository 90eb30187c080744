// Russian and English. The browser's language by default; the choice is kept in localStorage.
// `t(key, vars)` fills `{name}` placeholders; a missing key shows itself (a test checks there are none).
import { en } from './lang/en.js';
import { ru } from './lang/ru.js';

export const LANGUAGES = [['en', 'English'], ['ru', 'Русский']];
const DICTIONARIES = { en, ru };

let current = localStorage.getItem('crm.lang')
  || ((navigator.languages || [navigator.language]).find((l) => /^(ru|en)\b/i.test(l)) || 'en').slice(0, 2).toLowerCase();

export const lang = () => current;
export function setLang(code) {
  if (!DICTIONARIES[code]) return;
  current = code;
  localStorage.setItem('crm.lang', code);
}

export function t(key, vars = {}) {
  const text = DICTIONARIES[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}
