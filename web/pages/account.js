// The signed-in user: who they are, their zone and role; sign out.
import { signOut } from '../app.js';
import { t } from '../i18n.js';
import { h, userZone } from '../ui.js';

export async function render(main, { me }) {
  main.append(
    h('h1', { text: t('account.title') }),
    h('dl', { class: 'facts' },
      h('dt', { text: t('field.name') }), h('dd', { text: me.name || '' }),
      h('dt', { text: t('field.email') }), h('dd', { text: me.email }),
      h('dt', { text: t('field.role') }), h('dd', { text: t(`role.${me.role}`) }),
      h('dt', { text: t('field.timezone') }), h('dd', { text: userZone() })),
    h('p', { class: 'hint', text: t('account.password') }),
    h('button', { type: 'button', text: t('nav.signout'), onclick: signOut }));
}
