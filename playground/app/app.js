// The playground: a browser client of photoshare that uses only its public GraphQL API (POST /graphql and
// subscriptions on /graphql/ws). One static page; the hash picks the view:
//   #/                         the gallery (with `?name=…&from=YYYY-MM-DD&to=YYYY-MM-DD`: a search)
//   #/upload                   the upload form
//   #/photo/<id>               a photo, its comments and the share button
//   #/key                      this browser's owner key: copy it, or use one from another browser

import { h } from './dom.js';
import { renderGallery } from './gallery.js';
import { renderKey } from './key.js';
import { LiveClient } from './live.js';
import { renderPhoto } from './photo.js';
import { renderUpload } from './upload.js';

const live = new LiveClient(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql/ws`);
const view = document.getElementById('view');
let cleanup = () => {};

const ROUTES = [
  { pattern: /^\/$/, nav: 'gallery', render: (root, _match, params) => renderGallery(root, params, { live }) },
  { pattern: /^\/upload$/, nav: 'upload', render: (root) => renderUpload(root) },
  { pattern: /^\/key$/, nav: 'key', render: (root) => renderKey(root) },
  {
    pattern: /^\/photo\/([^/]+)$/,
    nav: null,
    render: (root, match) => renderPhoto(root, decodeURIComponent(match[1]), { live }),
  },
];

function route() {
  const [path, query = ''] = (location.hash.replace(/^#/, '') || '/').split('?');
  cleanup();
  view.replaceChildren();
  document.title = 'photoshare';
  const found = ROUTES.map((r) => ({ ...r, match: r.pattern.exec(path) })).find((r) => r.match);
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === found?.nav);
  }
  if (!found) {
    view.append(h('div', { class: 'card' }, h('h1', {}, 'Nothing here'), h('a', { href: '#/' }, 'Go to the gallery')));
    cleanup = () => {};
    return;
  }
  cleanup = found.render(view, found.match, new URLSearchParams(query)) ?? (() => {});
  window.scrollTo(0, 0);
}

// The connection state of live updates, in the header.
const liveState = document.getElementById('live-state');
live.onStatus((status) => {
  liveState.dataset.status = status;
  liveState.textContent = { idle: '', connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' }[status];
});

window.addEventListener('hashchange', route);
route();
