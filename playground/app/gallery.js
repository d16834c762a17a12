// The gallery (newest first, more pages as you scroll) and the search form above it. The search lives in
// the hash (`#/?name=pier&from=2026-11-28&to=2026-11-28`), so a search is a link like any page.

import { graphql } from './api.js';
import { errorBox, h, photoHref } from './dom.js';
import { endOfDay, formatDay, formatShort, startOfDay, timeZoneLabel, toRfc3339 } from './format.js';
import { photoImage } from './images.js';
import { GALLERY, PHOTO_ADDED, PHOTO_CARD_QUERY, PHOTO_REMOVED, PHOTO_UPDATED, SEARCH } from './operations.js';

const PAGE_SIZE = 24;

/** The search as typed: `name`, `from` and `to` (`YYYY-MM-DD` local days), any of them empty. */
function searchFrom(params) {
  return { name: (params.get('name') ?? '').trim(), from: params.get('from') ?? '', to: params.get('to') ?? '' };
}

/** The API's PhotoFilter for a search, or null for none; throws a message for an impossible range. */
function filterFor(search) {
  if (!search.name && !search.from && !search.to) return null;
  const filter = {};
  if (search.name) filter.name = search.name;
  if (search.from) filter.uploadedFrom = toRfc3339(startOfDay(search.from));
  if (search.to) filter.uploadedTo = toRfc3339(endOfDay(search.to));
  if (search.from && search.to && search.from > search.to) throw new Error('The “from” day is after the “to” day.');
  return filter;
}

/** "matching “pier” uploaded from 28 Nov 2026 to 29 Nov 2026". */
function describe(search) {
  const parts = [];
  if (search.name) parts.push(`matching “${search.name}”`);
  if (search.from && search.to) parts.push(`uploaded ${formatDay(search.from)} – ${formatDay(search.to)}`);
  else if (search.from) parts.push(`uploaded on or after ${formatDay(search.from)}`);
  else if (search.to) parts.push(`uploaded on or before ${formatDay(search.to)}`);
  return parts.join(', ');
}

function searchForm(search) {
  const name = h('input', {
    type: 'search',
    name: 'name',
    value: search.name,
    placeholder: 'Words of a name, e.g. pier',
    'aria-label': 'Name words',
    autocomplete: 'off',
  });
  const from = h('input', { type: 'date', name: 'from', value: search.from, 'aria-label': 'Uploaded from (day)' });
  const to = h('input', { type: 'date', name: 'to', value: search.to, 'aria-label': 'Uploaded to (day)' });
  const onsubmit = (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const input of [name, from, to]) if (input.value.trim()) params.set(input.name, input.value.trim());
    const query = params.toString();
    location.hash = query ? `#/?${query}` : '#/';
  };
  return h(
    'form',
    { class: 'card search', role: 'search', onsubmit },
    h(
      'div',
      { class: 'search-row' },
      h('label', { class: 'field grow' }, h('span', {}, 'Name'), name),
      h('label', { class: 'field' }, h('span', {}, 'From'), from),
      h('label', { class: 'field' }, h('span', {}, 'To'), to),
      h(
        'div',
        { class: 'search-actions' },
        h('button', { type: 'submit', class: 'primary' }, 'Search'),
        h('a', { href: '#/', class: 'button ghost' }, 'Clear'),
      ),
    ),
    h(
      'p',
      { class: 'hint' },
      `Days are in your time zone, ${timeZoneLabel()}, both ends included. A name matches when each word you type starts a word of it.`,
    ),
  );
}

function thumb(photo) {
  // The state label first: the image paints it (and the frame's state) from the photo's status.
  const frame = h('div', { class: 'thumb' }, h('span', { class: 'state' }));
  const size = photo.thumbnail ?? {};
  const props = { size: 'thumbnail', frame, loading: 'lazy', width: size.width, height: size.height };
  frame.prepend(photoImage(photo, props));
  return frame;
}

function photoCard(photo, fresh = false) {
  return h(
    'a',
    { class: `photo-card${fresh ? ' fresh' : ''}`, href: photoHref(photo.id), dataset: { id: photo.id } },
    thumb(photo),
    h(
      'div',
      { class: 'caption' },
      h('span', { class: 'name' }, photo.name),
      h(
        'span',
        { class: 'meta' },
        h('time', { datetime: photo.uploadedAt }, formatShort(photo.uploadedAt)),
        photo.commentCount ? ` · ${photo.commentCount} comment${photo.commentCount === 1 ? '' : 's'}` : '',
      ),
    ),
  );
}

/** Renders the gallery into `root`; returns its cleanup. */
export function renderGallery(root, params, { live }) {
  const search = searchFrom(params);
  const grid = h('div', { class: 'grid', 'aria-live': 'polite' });
  const status = h('div', { class: 'gallery-status' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More photos');
  const title = h('h1', {}, search.name || search.from || search.to ? 'Search results' : 'Latest photos');
  const subtitle = h('p', { class: 'subtitle' }, describe(search));
  root.append(searchForm(search), h('div', { class: 'heading' }, title, subtitle), grid, status, more);

  let filter;
  try {
    filter = filterFor(search);
  } catch (error) {
    status.replaceChildren(errorBox(error));
    return () => {};
  }

  const shown = new Set();
  let after = null;
  let loading = false;
  let disposed = false;

  async function loadPage() {
    if (loading || disposed) return;
    loading = true;
    more.disabled = true;
    status.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const variables = { first: PAGE_SIZE, after, ...(filter ? { filter } : {}) };
      const { photos } = await graphql(filter ? SEARCH : GALLERY, variables);
      if (disposed) return;
      for (const photo of photos.nodes) {
        if (shown.has(photo.id)) continue;
        shown.add(photo.id);
        if (!removed.has(photo.id)) grid.append(photoCard(updates.get(photo.id) ?? photo));
      }
      if (grid.dataset.updates === 'subscribed') recheckProcessing();
      after = photos.pageInfo.endCursor;
      more.hidden = !photos.pageInfo.hasNextPage;
      status.replaceChildren(endNote(photos.pageInfo.hasNextPage));
    } catch (error) {
      if (disposed) return;
      status.replaceChildren(errorBox(error, filter ? 'Search failed: ' : 'Could not load the gallery: '));
    } finally {
      loading = false;
      more.disabled = false;
    }
  }

  function endNote(hasMore) {
    if (hasMore) return '';
    if (shown.size > 0) return h('p', { class: 'muted end' }, filter ? 'That is every match.' : 'That is every photo.');
    if (filter) return h('p', { class: 'empty' }, `No photos ${describe(search)}.`);
    return h('p', { class: 'empty' }, 'No photos yet. ', h('a', { href: '#/upload' }, 'Upload the first one'), '.');
  }

  more.addEventListener('click', loadPage);
  // Infinite scroll: the "More photos" button loads the next page as it comes into view.
  const observer = new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting) && !more.hidden) loadPage();
    },
    { rootMargin: '400px' },
  );
  observer.observe(more);

  // A card is replaced when its photo changes (PROCESSING to READY or FAILED, or an edit). The latest version of
  // each photo heard is kept, for a card that arrives after its update (a page or photoAdded in flight).
  const updates = new Map();
  const cardOf = (id) => grid.querySelector(`.photo-card[data-id="${CSS.escape(id)}"]`);
  function replaceCard(photo) {
    const card = cardOf(photo.id);
    if (card) card.replaceWith(photoCard(photo, card.classList.contains('fresh')));
  }
  // What finished before the subscription started is asked for once (there is no resume for photoUpdated).
  function recheckProcessing() {
    for (const frame of grid.querySelectorAll('.thumb.processing')) {
      const id = frame.closest('.photo-card').dataset.id;
      graphql(PHOTO_CARD_QUERY, { id })
        .then(({ photo }) => photo && photo.status !== 'PROCESSING' && !disposed && replaceCard(photo))
        .catch(() => {});
    }
  }
  const stopUpdates = live.subscribe({
    query: PHOTO_UPDATED,
    onStart: () => {
      grid.dataset.updates = 'subscribed';
      recheckProcessing();
    },
    next: ({ photoUpdated: photo }) => {
      updates.delete(photo.id);
      updates.set(photo.id, photo);
      if (updates.size > 500) updates.delete(updates.keys().next().value);
      replaceCard(photo);
    },
  });

  // Deleted photos leave the page.
  const removed = new Set();
  const stopRemoved = live.subscribe({
    query: PHOTO_REMOVED,
    next: ({ photoRemoved: id }) => {
      removed.add(id);
      cardOf(id)?.remove();
    },
  });

  // New photos appear at the top of the unfiltered gallery as they are uploaded, by anyone.
  const stopLive = filter
    ? () => {}
    : live.subscribe({
        query: PHOTO_ADDED,
        onStart: () => (grid.dataset.live = 'subscribed'),
        next: ({ photoAdded: photo }) => {
          if (shown.has(photo.id)) return;
          shown.add(photo.id);
          grid.prepend(photoCard(updates.get(photo.id) ?? photo, true));
          if (status.querySelector('.empty')) status.replaceChildren(endNote(false));
        },
      });

  loadPage();
  return () => {
    disposed = true;
    observer.disconnect();
    stopLive();
    stopUpdates();
    stopRemoved();
  };
}
