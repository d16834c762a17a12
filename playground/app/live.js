// A small client for GraphQL subscriptions over WebSocket with the graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md). One connection carries every
// subscription; it opens when the first subscription starts, closes shortly after the last one ends, and
// reconnects with backoff while any remain. On every (re)connection each subscription is sent again with
// fresh variables, so a subscription can resume where it left off (commentAdded's `after`).

import { ApiError } from './api.js';
import { authorization } from './owner.js';

/** How long an unused connection stays open, so moving between pages does not reconnect. */
const IDLE_CLOSE_MS = 2000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;

export class LiveClient {
  #url;
  #socket = null;
  #acknowledged = false;
  #subscriptions = new Map();
  #nextId = 1;
  #attempt = 0;
  #retryTimer = null;
  #idleTimer = null;
  #statusListeners = new Set();
  /** `idle` (no connection needed), `connecting`, `live` or `reconnecting`. */
  status = 'idle';

  constructor(url) {
    this.#url = url;
  }

  /**
   * Starts a subscription. `variables()` is called each time it is sent (first connection and every
   * reconnection); `onStart(variables)` after each send; `next(data)` per event; `error(ApiError)` when the
   * server refuses it. Returns a function that ends it.
   */
  subscribe({ query, variables = () => ({}), next, error, onStart }) {
    const id = String(this.#nextId++);
    const subscription = { id, query, variables, next, error, onStart };
    this.#subscriptions.set(id, subscription);
    clearTimeout(this.#idleTimer);
    if (this.#acknowledged) this.#send(subscription);
    else this.#connect();
    return () => this.#end(id);
  }

  /** Calls `listener(status)` now and on every change; returns a function that stops it. */
  onStatus(listener) {
    this.#statusListeners.add(listener);
    listener(this.status);
    return () => this.#statusListeners.delete(listener);
  }

  #setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.#statusListeners) listener(status);
  }

  #connect() {
    if (this.#socket || this.#retryTimer) return;
    this.#setStatus(this.#attempt === 0 ? 'connecting' : 'reconnecting');
    const socket = new WebSocket(this.#url, 'graphql-transport-ws');
    this.#socket = socket;
    // A WebSocket cannot carry headers: the owner key goes in connection_init.
    const init = { type: 'connection_init', payload: { authorization: authorization() } };
    socket.addEventListener('open', () => socket.send(JSON.stringify(init)));
    socket.addEventListener('message', (event) => this.#receive(event.data));
    socket.addEventListener('close', () => this.#closed(socket));
  }

  #receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const subscription = message.id ? this.#subscriptions.get(message.id) : undefined;
    switch (message.type) {
      case 'connection_ack':
        this.#acknowledged = true;
        this.#attempt = 0;
        this.#setStatus('live');
        for (const s of this.#subscriptions.values()) this.#send(s);
        break;
      case 'ping':
        this.#socket?.send(JSON.stringify({ type: 'pong' }));
        break;
      case 'next':
        if (!subscription) break;
        if (message.payload?.errors?.length) subscription.error?.(toError(message.payload.errors));
        else subscription.next?.(message.payload.data);
        break;
      case 'error':
        if (!subscription) break;
        this.#subscriptions.delete(message.id);
        subscription.error?.(toError(message.payload));
        break;
      case 'complete':
        // The server ended a subscription the page still wants (e.g. it fell behind): start it again, with
        // fresh variables, after a moment.
        if (subscription) setTimeout(() => this.#restart(subscription), RETRY_FIRST_MS);
        break;
    }
  }

  #send(subscription) {
    const variables = subscription.variables();
    this.#socket.send(
      JSON.stringify({ id: subscription.id, type: 'subscribe', payload: { query: subscription.query, variables } }),
    );
    subscription.onStart?.(variables);
  }

  #restart(subscription) {
    if (this.#acknowledged && this.#subscriptions.get(subscription.id) === subscription) this.#send(subscription);
  }

  #closed(socket) {
    if (socket !== this.#socket) return;
    this.#socket = null;
    this.#acknowledged = false;
    if (this.#subscriptions.size === 0) {
      this.#attempt = 0;
      this.#setStatus('idle');
      return;
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.#attempt) * (0.8 + Math.random() * 0.4);
    this.#attempt += 1;
    this.#setStatus('reconnecting');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#subscriptions.size > 0) this.#connect();
      else this.#setStatus('idle');
    }, delay);
  }

  #end(id) {
    if (!this.#subscriptions.delete(id)) return;
    if (this.#acknowledged) this.#socket.send(JSON.stringify({ id, type: 'complete' }));
    if (this.#subscriptions.size > 0) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#subscriptions.size === 0 && this.#socket) this.#socket.close(1000, 'no subscriptions');
    }, IDLE_CLOSE_MS);
  }
}

function toError(errors) {
  const first = Array.isArray(errors) ? errors[0] : errors;
  return new ApiError(first?.message ?? 'subscription failed', first?.extensions?.code ?? 'GRAPHQL_ERROR');
}
