// Sign in with e-mail and password; then the page asked for (`next`), else the user's home.
import { go, signIn } from '../app.js';
import { t } from '../i18n.js';
import { field, h, input, showError } from '../ui.js';

export async function render(main, { query }) {
  const email = input('email', { type: 'email', autocomplete: 'username', required: true });
  const password = input('password', { type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: t('signin.title') }),
    field(t('field.email'), email), field(t('field.password'), password),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('signin.submit') })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await signIn(email.value.trim(), password.value);
      const next = query.get('next');
      go(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (error) {
      showError(form, error);
    }
  });
  main.append(form);
  email.focus();
}
