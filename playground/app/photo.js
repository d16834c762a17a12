// A photo's page: the photo, who uploaded it and when, its comments (live) and the share button.

import { graphql } from './api.js';
import { errorBox, h, safeUrl } from './dom.js';
import { formatBytes, formatDateAndTimeZone } from './format.js';
import { commentsSection } from './comments.js';
import { photoImage } from './images.js';
import { PHOTO, PHOTO_PAGE_QUERY, PHOTO_PAGE_UPDATED } from './operations.js';
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
      photo.takenAt
        ? row(
            'Taken',
            h('time', { class: 'taken-at', datetime: photo.takenAt }, formatDateAndTimeZone(photo.takenAt).join(' ')),
          )
        : null,
      photo.camera ? row('Camera', h('span', { class: 'camera' }, photo.camera)) : null,
      photo.status === 'READY' ? null : row('Status', h('span', { class: 'status' }, statusText(photo))),
      row('Size', `${formatBytes(photo.sizeBytes)}${photo.width ? ` · ${photo.width} × ${photo.height} px` : ''}`),
      row('Type', photo.contentType),
    ),
  );
}

function statusText(photo) {
  if (photo.status === 'PROCESSING') return 'Processing… (the renditions appear here when ready)';
  return `Could not be processed: ${photo.processingError ?? 'unknown reason'}`;
}

/** The photo, PREVIEW, linking to FULL once READY; what is happening to it before. */
function figure(photo) {
  const frame = (...children) => h('figure', { class: `card photo-frame ${photo.status.toLowerCase()}` }, ...children);
  if (photo.status !== 'READY') {
    const text =
      photo.status === 'PROCESSING' ? 'Processing… the photo appears here in a moment.' : 'This photo could not be processed.';
    return frame(h('p', { class: 'figure-state' }, text));
  }
  const image = photoImage(photo, {
    size: 'preview',
    class: 'photo-full',
    width: photo.preview?.width ?? photo.width,
    height: photo.preview?.height ?? photo.height,
  });
  const link = h(
    'a',
    { href: safeUrl(photo.url), target: '_blank', rel: 'noopener noreferrer', title: 'Open the full image' },
    image,
  );
  return frame(link);
}

/** Renders photo `id` into `root`; returns its cleanup. */
export function renderPhoto(root, id, { live }) {
  let disposed = false;
  let stopUpdates = () => {};
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
      let shownFigure = figure(photo);
      let shownDetails = details(photo);
      let status = photo.status;
      // Processing finished or an edit: shown at once.
      const show = (fresh) => {
        if (disposed || !fresh) return;
        const next = [figure(fresh), details(fresh)];
        shownFigure.replaceWith(next[0]);
        shownDetails.replaceWith(next[1]);
        [shownFigure, shownDetails] = next;
        document.title = `${fresh.name} — photoshare`;
        status = fresh.status;
      };
      // What changed before the subscription started is asked for once (photoUpdated has no resume).
      stopUpdates = live.subscribe({
        query: PHOTO_PAGE_UPDATED,
        variables: () => ({ id: photo.id }),
        onStart: () => {
          if (status !== 'PROCESSING') return;
          graphql(PHOTO_PAGE_QUERY, { id: photo.id })
            .then(({ photo: fresh }) => fresh?.status !== 'PROCESSING' && show(fresh))
            .catch(() => {});
        },
        next: ({ photoUpdated }) => show(photoUpdated),
      });
      root.replaceChildren(
        h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, '← Gallery')),
        h(
          'div',
          { class: 'photo-layout' },
          h('div', { class: 'main-column' }, shownFigure, comments.element),
          h('aside', { class: 'side-column' }, shownDetails, share.element),
        ),
      );
    })
    .catch((error) => {
      if (!disposed) root.replaceChildren(errorBox(error, 'Could not load the photo: '));
    });

  return () => {
    disposed = true;
    stopUpdates();
    parts.forEach((part) => part.dispose());
  };
}
