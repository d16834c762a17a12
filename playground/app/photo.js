// A photo's page: the photo, who uploaded it and when, its comments (live) and the share button; for its
// owner (this browser's key) Edit and Delete.

import { graphql } from './api.js';
import { errorBox, h, safeUrl } from './dom.js';
import { formatBytes, formatDateAndTimeZone } from './format.js';
import { commentsSection, confirmButton } from './comments.js';
import { photoImage } from './images.js';
import { DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS } from './limits.js';
import {
  DELETE_PHOTO,
  PHOTO,
  PHOTO_PAGE_QUERY,
  PHOTO_PAGE_UPDATED,
  PHOTO_REMOVED,
  UPDATE_PHOTO,
} from './operations.js';
import { shareSection } from './share.js';

/** Edit (name, description) and Delete, for the photo's owner or an admin. */
function ownerTools(photo, { onEdited, onDeleted }) {
  const tools = h('div', { class: 'owner-tools' });
  const messages = h('div', { class: 'messages' });
  const edit = h('button', { type: 'button', class: 'ghost small', onclick: () => openForm() }, 'Edit');
  const remove = confirmButton('Delete photo', 'Delete this photo and its comments?', async () => {
    await graphql(DELETE_PHOTO, { id: photo.id });
    onDeleted();
  });
  function openForm() {
    const name = h('input', {
      name: 'name',
      value: photo.name,
      maxlength: NAME_MAX_CHARS,
      'aria-label': 'Name',
      required: true,
    });
    const description = h('textarea', {
      name: 'description',
      rows: 3,
      maxlength: DESCRIPTION_MAX_CHARS,
      'aria-label': 'Description',
    });
    description.value = photo.description ?? '';
    const save = h('button', { type: 'submit', class: 'primary small' }, 'Save');
    const form = h(
      'form',
      {
        class: 'edit-form',
        onsubmit: async (event) => {
          event.preventDefault();
          save.disabled = true;
          messages.replaceChildren();
          try {
            const input = { id: photo.id, name: name.value, description: description.value };
            const { updatePhoto } = await graphql(UPDATE_PHOTO, { input });
            onEdited(updatePhoto);
          } catch (error) {
            messages.append(errorBox(error, 'Could not save: '));
            save.disabled = false;
          }
        },
      },
      h('label', { class: 'field' }, h('span', {}, 'Name'), name),
      h('label', { class: 'field' }, h('span', {}, 'Description'), description),
      h(
        'div',
        { class: 'owner-tools' },
        save,
        h(
          'button',
          { type: 'button', class: 'ghost small', onclick: () => tools.replaceChildren(edit, remove) },
          'Cancel',
        ),
      ),
    );
    tools.replaceChildren(form);
    name.focus();
  }
  tools.append(edit, remove);
  return h('div', {}, tools, messages);
}

function details(photo, owner) {
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
    photo.viewerCanEdit ? ownerTools(photo, owner) : null,
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
      photo.status === 'PROCESSING'
        ? 'Processing… the photo appears here in a moment.'
        : 'This photo could not be processed.';
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
  let stopRemoved = () => {};
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
      const comments = commentsSection(photo.id, photo.comments, { live, canModerate: photo.viewerCanEdit });
      const share = shareSection(photo.id);
      parts.push(comments, share);
      const gone = (text) => {
        stopUpdates();
        stopRemoved();
        root.replaceChildren(
          h('div', { class: 'card deleted' }, h('h1', {}, text), h('a', { href: '#/' }, 'Back to the gallery')),
        );
      };
      const owner = {
        onEdited: (edited) => show(edited),
        onDeleted: () => gone(`Deleted “${photo.name}”.`),
      };
      let shownFigure = figure(photo);
      let shownDetails = details(photo, owner);
      let status = photo.status;
      // Processing finished or an edit: shown at once.
      const show = (fresh) => {
        if (disposed || !fresh) return;
        const next = [figure(fresh), details(fresh, owner)];
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
      stopRemoved = live.subscribe({
        query: PHOTO_REMOVED,
        next: ({ photoRemoved }) => photoRemoved === photo.id && !disposed && gone('This photo was deleted.'),
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
    stopRemoved();
    parts.forEach((part) => part.dispose());
  };
}
