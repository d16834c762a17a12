// Building the page without HTML strings: every string child becomes a text node, so text from users is
// never parsed as HTML (no innerHTML anywhere in the app).

/** Properties set on the element itself rather than as attributes. */
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple', 'open']);

/**
 * `h('a', { href: '#/', class: 'brand', onclick: fn }, 'photoshare', child)`: an element with attributes,
 * event listeners (`on<event>`), and children (strings become text; null, undefined and false are skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) element[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children the same way `h` does. */
export function append(element, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A link target for a URL that came from the server: only http(s) URLs, never `javascript:` and the like. */
export function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** The hash route of a photo's page. */
export function photoHref(id) {
  return `#/photo/${encodeURIComponent(id)}`;
}

/** A `<p role="alert">` showing an error: its message and, for API errors, the code. */
export function errorBox(error, prefix = '') {
  return h(
    'p',
    { class: 'alert error', role: 'alert' },
    prefix,
    error?.message ?? String(error),
    error?.code ? ' ' : null,
    error?.code ? h('code', { class: 'code' }, error.code) : null,
  );
}

/** A random UUID; crypto.randomUUID needs a secure context, getRandomValues works everywhere. */
export function uuid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
