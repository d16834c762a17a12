// A photo's comment timeline: the stored comments (oldest first), then live ones from the commentAdded
// subscription. The subscription carries `after` = the newest comment's cursor, so after a reconnection the
// server first sends whatever was posted meanwhile; comments are kept by id, so none shows twice. A comment
// its author (this browser's key) or the photo's owner may delete has a Delete button; deleted comments leave
// every open page (commentRemoved).

import { graphql } from './api.js';
import { errorBox, h, uuid } from './dom.js';
import { formatDateTime } from './format.js';
import { COMMENT_MAX_CHARS as BODY_MAX } from './limits.js';
import { ADD_COMMENT, COMMENTS, COMMENT_ADDED, COMMENT_REMOVED, DELETE_COMMENT } from './operations.js';

const PAGE_SIZE = 100;

/** Comments ordered by time then id, each with its element in `list`. */
class Timeline {
  #entries = [];
  #ids = new Set();

  constructor(list, onChange, item) {
    this.list = list;
    this.onChange = onChange;
    this.item = item;
  }

  get size() {
    return this.#entries.length;
  }

  /** The newest comment's cursor: where a resumed subscription continues. */
  get lastCursor() {
    return this.#entries.at(-1)?.comment.cursor ?? null;
  }

  add(comment, { fresh = false } = {}) {
    if (this.#ids.has(comment.id)) return;
    this.#ids.add(comment.id);
    const entry = { comment, time: Date.parse(comment.createdAt), element: this.item(comment, fresh) };
    let index = this.#entries.length;
    while (index > 0 && before(entry, this.#entries[index - 1])) index -= 1;
    this.list.insertBefore(entry.element, this.#entries[index]?.element ?? null);
    this.#entries.splice(index, 0, entry);
    this.onChange(this.size);
  }

  remove(id) {
    const index = this.#entries.findIndex((entry) => entry.comment.id === id);
    if (index < 0) return;
    this.#entries[index].element.remove();
    this.#entries.splice(index, 1);
    this.onChange(this.size);
  }
}

function before(a, b) {
  return a.time < b.time || (a.time === b.time && a.comment.id < b.comment.id);
}

function commentItem(comment, fresh, onDelete) {
  return h(
    'li',
    { class: `comment${fresh ? ' fresh' : ''}`, dataset: { id: comment.id } },
    h('p', { class: 'comment-body' }, comment.body),
    h(
      'p',
      { class: 'comment-meta' },
      h('time', { datetime: comment.createdAt }, formatDateTime(comment.createdAt)),
      ' · from ',
      h('span', { class: 'ip' }, comment.authorIp),
      onDelete ? confirmButton('Delete', 'Delete this comment?', onDelete) : null,
    ),
  );
}

/**
 * A small button that asks once more inline before `action()` runs: `label`, then `question` with Delete and
 * Keep. `action` may throw: the error shows next to it.
 */
export function confirmButton(label, question, action) {
  const holder = h('span', { class: 'confirm' });
  const ask = () =>
    holder.replaceChildren(
      h('span', { class: 'muted' }, question, ' '),
      h('button', { type: 'button', class: 'danger small', onclick: run }, 'Delete'),
      h('button', { type: 'button', class: 'ghost small', onclick: idle }, 'Keep'),
    );
  const idle = () => holder.replaceChildren(h('button', { type: 'button', class: 'ghost small', onclick: ask }, label));
  async function run() {
    holder.replaceChildren(h('span', { class: 'muted' }, 'Deleting…'));
    try {
      await action();
    } catch (error) {
      idle();
      holder.append(errorBox(error, 'Could not delete: '));
    }
  }
  idle();
  return holder;
}

/**
 * The comments section of photo `photoId`, starting from `firstPage` (a CommentConnection). Returns
 * `{ element, dispose }`.
 */
export function commentsSection(photoId, firstPage, { live, canModerate = false }) {
  const count = h('span', { class: 'count' });
  const liveBadge = h('span', { class: 'live-badge' });
  const list = h('ol', { class: 'timeline', 'aria-live': 'polite' });
  const empty = h('p', { class: 'muted empty-comments' }, 'No comments yet. Be the first.');
  const notices = h('div', { class: 'messages' });
  // The author, the photo's owner or an admin may delete (viewerCanDelete; over the socket too).
  const item = (comment, fresh) => {
    if (!comment.viewerCanDelete && !canModerate) return commentItem(comment, fresh, null);
    return commentItem(comment, fresh, async () => {
      try {
        await graphql(DELETE_COMMENT, { photoId, commentId: comment.id });
      } catch (error) {
        if (error.code !== 'NOT_FOUND') throw error; // deleted already: gone either way
      }
      timeline.remove(comment.id);
    });
  };
  const timeline = new Timeline(
    list,
    (size) => {
      count.textContent = `(${size})`;
      empty.hidden = size > 0;
    },
    item,
  );
  let disposed = false;

  const addAll = (nodes, options) => nodes.forEach((comment) => timeline.add(comment, options));
  addAll(firstPage.nodes);
  count.textContent = `(${timeline.size})`;

  /** Reads the rest of the timeline after `after`, page by page. */
  async function loadRest(after) {
    for (let cursor = after, pages = 0; cursor && pages < 100 && !disposed; pages++) {
      const { photo } = await graphql(COMMENTS, { id: photoId, first: PAGE_SIZE, after: cursor });
      if (!photo || disposed) return;
      addAll(photo.comments.nodes);
      cursor = photo.comments.pageInfo.hasNextPage ? photo.comments.pageInfo.endCursor : null;
    }
  }

  const form = commentForm(photoId, (comment) => timeline.add(comment, { fresh: true }));

  let stopLive = () => {};
  const ready = (firstPage.pageInfo.hasNextPage ? loadRest(firstPage.pageInfo.endCursor) : Promise.resolve())
    .catch((error) => notices.append(errorBox(error, 'Could not load every comment: ')))
    .then(() => {
      if (disposed) return;
      stopLive = live.subscribe({
        query: COMMENT_ADDED,
        variables: () => ({ photoId, after: timeline.lastCursor }),
        next: ({ commentAdded }) => timeline.add(commentAdded, { fresh: true }),
        error: (error) => notices.replaceChildren(errorBox(error, 'Live updates stopped: ')),
        // With no comment to resume after, one posted between reading the timeline and subscribing would be
        // missed: read the start of the timeline again once the subscription is on its way.
        onStart: ({ after }) => {
          element.dataset.live = 'subscribed';
          if (after) return;
          graphql(COMMENTS, { id: photoId, first: PAGE_SIZE, after: null })
            .then(({ photo }) => photo && !disposed && addAll(photo.comments.nodes))
            .catch(() => {});
        },
      });
    });
  const stopRemoved = live.subscribe({
    query: COMMENT_REMOVED,
    variables: () => ({ photoId }),
    next: ({ commentRemoved }) => timeline.remove(commentRemoved),
  });
  const stopStatus = live.onStatus((status) => {
    liveBadge.dataset.status = status;
    liveBadge.textContent = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', idle: '' }[
      status
    ];
  });

  const element = h(
    'section',
    { class: 'card comments' },
    h('h2', {}, 'Comments ', count, liveBadge),
    list,
    empty,
    notices,
    form,
  );
  empty.hidden = timeline.size > 0;
  return {
    element,
    ready,
    dispose() {
      disposed = true;
      stopLive();
      stopRemoved();
      stopStatus();
    },
  };
}

/** The comment box. A failed post keeps its clientId, so sending it again cannot post it twice. */
function commentForm(photoId, onPosted) {
  let clientId = uuid();
  const body = h('textarea', {
    name: 'body',
    rows: 3,
    maxlength: BODY_MAX,
    placeholder: 'Write a comment…',
    'aria-label': 'Comment',
    required: true,
  });
  const counter = h('span', { class: 'muted counter' }, `0 / ${BODY_MAX}`);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Post comment');
  const messages = h('div', { class: 'messages' });
  body.addEventListener('input', () => {
    counter.textContent = `${body.value.length} / ${BODY_MAX}`;
    clientId = uuid(); // a different text is a different comment
  });
  body.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });

  async function post(event) {
    event.preventDefault();
    messages.replaceChildren();
    if (!body.value.trim()) return messages.append(errorBox(new Error('Write something first.')));
    submit.disabled = true;
    submit.textContent = 'Posting…';
    try {
      const { addComment } = await graphql(ADD_COMMENT, { input: { photoId, body: body.value, clientId } });
      onPosted(addComment);
      body.value = '';
      counter.textContent = `0 / ${BODY_MAX}`;
      clientId = uuid();
    } catch (error) {
      messages.append(errorBox(error, 'Could not post the comment: '));
    } finally {
      submit.disabled = false;
      submit.textContent = 'Post comment';
    }
  }

  const form = h(
    'form',
    { class: 'comment-form', onsubmit: post },
    body,
    h('div', { class: 'actions' }, counter, h('span', { class: 'muted keyboard-hint' }, 'Ctrl+Enter to post'), submit),
    messages,
  );
  return form;
}
