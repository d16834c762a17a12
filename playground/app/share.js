// The share button: createShareLink gives a presigned GET link that stops working at `expiresAt`; show it
// with a copy button and a countdown.

import { graphql } from './api.js';
import { errorBox, h, safeUrl } from './dom.js';
import { formatCountdown, formatTime } from './format.js';
import { CREATE_SHARE_LINK } from './operations.js';

const LIFETIMES = [
  [60, '1 minute'],
  [300, '5 minutes'],
  [3600, '1 hour'],
];

/** Copies `text`; the async clipboard API needs a secure context, so fall back to a selection copy. */
async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.select();
    return document.execCommand?.('copy') ?? false;
  }
}

/** The share card for a photo. Returns `{ element, dispose }`. */
export function shareSection(photoId) {
  const lifetime = h(
    'select',
    { name: 'expiresInSeconds', 'aria-label': 'Link valid for' },
    LIFETIMES.map(([seconds, label]) => h('option', { value: seconds }, label)),
  );
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create share link');
  const result = h('div', { class: 'share-result' });
  let timer = null;

  async function createLink(event) {
    event.preventDefault();
    clearInterval(timer);
    create.disabled = true;
    result.replaceChildren(h('p', { class: 'muted' }, 'Creating a link…'));
    try {
      const { createShareLink: link } = await graphql(CREATE_SHARE_LINK, {
        photoId,
        expiresInSeconds: Number(lifetime.value),
      });
      showLink(link);
    } catch (error) {
      result.replaceChildren(errorBox(error, 'Could not create a share link: '));
    } finally {
      create.disabled = false;
    }
  }

  function showLink(link) {
    const href = safeUrl(link.url);
    const expiresAt = Date.parse(link.expiresAt);
    const lifetimeMs = Math.max(1, expiresAt - Date.now());
    const input = h('input', {
      type: 'text',
      readonly: true,
      value: link.url,
      class: 'share-url',
      'aria-label': 'Share link',
      onfocus: (e) => e.target.select(),
    });
    const copied = h('span', { class: 'copied', role: 'status' });
    const copyButton = h('button', { type: 'button', class: 'copy' }, 'Copy');
    copyButton.addEventListener('click', async () => {
      copied.textContent = (await copy(link.url, input)) ? 'Copied!' : 'Select the link and copy it';
    });
    const open = h(
      'a',
      { class: 'button ghost open-link', href, target: '_blank', rel: 'noopener noreferrer' },
      'Open',
    );
    const bar = h('progress', { class: 'countdown-bar', max: lifetimeMs, value: lifetimeMs });
    const countdown = h('p', { class: 'countdown' });
    const tick = () => {
      const left = expiresAt - Date.now();
      bar.value = Math.max(0, left);
      if (left > 0) {
        countdown.textContent = `Expires in ${formatCountdown(left)} (at ${formatTime(new Date(expiresAt))})`;
        return;
      }
      clearInterval(timer);
      countdown.textContent = `Expired at ${formatTime(new Date(expiresAt))}. Create a new link to share again.`;
      countdown.classList.add('expired');
      input.classList.add('expired');
      open.removeAttribute('href');
      open.setAttribute('aria-disabled', 'true');
    };
    result.replaceChildren(h('div', { class: 'share-link-row' }, input, copyButton, open, copied), bar, countdown);
    tick();
    timer = setInterval(tick, 250);
  }

  const element = h(
    'form',
    { class: 'card share', onsubmit: createLink },
    h('h2', {}, 'Share'),
    h('p', { class: 'hint' }, 'A direct link to the photo that anyone can open, until it expires.'),
    h('div', { class: 'share-controls' }, h('label', { class: 'inline' }, 'Valid for ', lifetime), create),
    result,
  );
  return { element, dispose: () => clearInterval(timer) };
}
