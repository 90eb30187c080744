// The signed-in user: who they are, their zone and role; change the password (sign out is in the header).
import { post, Problem } from '../api.js';
import { signIn } from '../app.js';
import { t } from '../i18n.js';
import { clearErrors, field, h, input, notice, showError, userZone } from '../ui.js';

export async function render(main, { me }) {
  main.append(
    h('h1', { text: t('account.title') }),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'account-facts' },
        h('h2', { id: 'account-facts', text: t('account.facts') }),
        h('dl', { class: 'facts' },
          h('dt', { text: t('field.name') }), h('dd', { text: me.name || '' }),
          h('dt', { text: t('field.email') }), h('dd', { text: me.email }),
          h('dt', { text: t('field.role') }), h('dd', { text: t(`role.${me.role}`) }),
          h('dt', { text: t('field.timezone') }), h('dd', { text: userZone() }))),
      passwordForm(me)));
}

/** Current password, new one twice. The API revokes every token of the old password, this one too,
 *  so the page signs in again with the new one: this tab stays signed in, every other device is out. */
function passwordForm(me) {
  const current = input('current_password', { type: 'password', autocomplete: 'current-password', required: true });
  const fresh = input('new_password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const again = input('new_password_again', { type: 'password', autocomplete: 'new-password', required: true });
  const result = h('div', { class: 'result' });
  const form = h('form', { class: 'card stack', 'aria-labelledby': 'account-password', novalidate: true },
    h('h2', { id: 'account-password', text: t('account.change_password') }),
    h('div', { class: 'form-error', role: 'alert', hidden: true }), // below the heading, not above it
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: me.email, hidden: true }),
    field(t('account.current'), current),
    field(t('account.new'), fresh, t('account.rules')),
    field(t('account.again'), again),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: t('account.change') })),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.replaceChildren();
    if (fresh.value !== again.value) {
      showError(form, new Problem(422, { detail: t('account.mismatch'), errors: { new_password_again: [t('account.mismatch')] } }));
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await post('/auth/password', { current_password: current.value, new_password: fresh.value }, { retryThrottled: false });
    } catch (error) {
      button.disabled = false;
      // 403 here means the current password is wrong, not the role: said so, in the user's language
      const wrong = error instanceof Problem && error.status === 403;
      showError(form, wrong ? new Problem(422, { detail: t('account.wrong_current'),
        errors: { current_password: [t('account.wrong_current')] } }) : error);
      return;
    }
    try {
      await signIn(me.email, fresh.value);
    } catch {
      button.disabled = false;
      result.append(notice(t('account.changed_signin'), 'info'));
      return;
    }
    button.disabled = false;
    clearErrors(form);
    form.reset();
    result.append(notice(t('account.changed'), 'ok'));
  });
  return form;
}
