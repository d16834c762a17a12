// "Your key": this browser's owner key, to copy to another browser (where importing it makes this browser's
// photos and comments editable there too), and the form that imports one.

import { errorBox, h } from './dom.js';
import { importKey, ownerKey } from './owner.js';

/** Renders the key page into `root`. */
export function renderKey(root) {
  const value = h('input', { class: 'key-value', readonly: true, value: ownerKey(), 'aria-label': 'Your owner key' });
  const copied = h('span', { class: 'muted', 'aria-live': 'polite' });
  const copy = h(
    'button',
    {
      type: 'button',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(value.value);
          copied.textContent = 'Copied.';
        } catch {
          value.select();
          copied.textContent = 'Selected: copy it with Ctrl+C.';
        }
      },
    },
    'Copy',
  );
  const entered = h('input', { class: 'key-value', name: 'key', 'aria-label': 'Key to use', autocomplete: 'off' });
  const messages = h('div', { class: 'messages' });
  const form = h(
    'form',
    {
      class: 'edit-form',
      onsubmit: (event) => {
        event.preventDefault();
        messages.replaceChildren();
        try {
          importKey(entered.value);
          value.value = ownerKey();
          entered.value = '';
          messages.append(h('div', { class: 'alert success' }, 'This browser now uses that key.'));
        } catch (error) {
          messages.append(errorBox(error));
        }
      },
    },
    h('label', { class: 'field' }, h('span', {}, 'Use a key from another browser'), entered),
    h('div', { class: 'owner-tools' }, h('button', { type: 'submit', class: 'primary' }, 'Use this key')),
    messages,
  );
  root.append(
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Your key'),
      h(
        'p',
        {},
        'Photos you upload and comments you post from this browser are yours to edit and delete: this browser ',
        'sends its owner key with every request (the server keeps only a hash of it). Keep it secret. To keep ',
        'your photos when you change browser, copy the key here and use it there.',
      ),
      h('div', { class: 'owner-tools' }, value, copy, copied),
      form,
    ),
  );
  return () => {};
}
