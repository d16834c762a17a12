// A photo's page: the photo, who uploaded it and when, its comments (live) and the share button.

import { graphql } from './api.js';
import { errorBox, h, safeUrl } from './dom.js';
import { formatBytes, formatDateAndTimeZone } from './format.js';
import { commentsSection } from './comments.js';
import { photoImage } from './images.js';
import { PHOTO } from './operations.js';
import { shareSection } from './share.js';

function details(photo) {
  const row = (label, ...value) => [h('dt', {}, label), h('dd', {}, ...value)];
  return h(
    'section',
    { class: 'card details' },
    h('h1', { class: 'photo-name' }, photo.name),
    photo.description ? h('p', { class: 'description' }, photo.description) : null,
    h(
      'dl',
      {},
      row(
        'Uploaded',
        h(
          'time',
          { class: 'uploaded-at', datetime: photo.uploadedAt },
          formatDateAndTimeZone(photo.uploadedAt).map((part) => h('span', {}, part)),
        ),
      ),
      row('Uploader IP', h('span', { class: 'uploader-ip' }, photo.uploaderIp)),
      row('Size', `${formatBytes(photo.sizeBytes)}${photo.width ? ` · ${photo.width} × ${photo.height} px` : ''}`),
      row('Type', photo.contentType),
    ),
  );
}

/** Renders photo `id` into `root`; returns its cleanup. */
export function renderPhoto(root, id, { live }) {
  let disposed = false;
  const parts = [];
  root.append(h('p', { class: 'muted' }, 'Loading photo…'));

  graphql(PHOTO, { id, first: 100 })
    .then(({ photo }) => {
      if (disposed) return;
      if (!photo) {
        root.replaceChildren(
          h(
            'div',
            { class: 'card' },
            h('h1', {}, 'Photo not found'),
            h('p', {}, 'There is no photo with id “', id, '”. '),
            h('a', { href: '#/' }, 'Back to the gallery'),
          ),
        );
        return;
      }
      document.title = `${photo.name} — photoshare`;
      const comments = commentsSection(photo.id, photo.comments, { live });
      const share = shareSection(photo.id);
      parts.push(comments, share);
      root.replaceChildren(
        h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, '← Gallery')),
        h(
          'div',
          { class: 'photo-layout' },
          h(
            'div',
            { class: 'main-column' },
            h(
              'figure',
              { class: 'card photo-frame' },
              h(
                'a',
                {
                  href: safeUrl(photo.url),
                  target: '_blank',
                  rel: 'noopener noreferrer',
                  title: 'Open the full image',
                },
                photoImage(photo, {
                  size: 'preview',
                  class: 'photo-full',
                  width: photo.preview?.width ?? photo.width,
                  height: photo.preview?.height ?? photo.height,
                }),
              ),
            ),
            comments.element,
          ),
          h('aside', { class: 'side-column' }, details(photo), share.element),
        ),
      );
    })
    .catch((error) => {
      if (!disposed) root.replaceChildren(errorBox(error, 'Could not load the photo: '));
    });

  return () => {
    disposed = true;
    parts.forEach((part) => part.dispose());
  };
}
