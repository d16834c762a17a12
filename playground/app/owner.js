// This browser's owner key: made once (32 random bytes from Web Crypto, as base64url: 43 of A-Z a-z 0-9 - _),
// kept in localStorage and sent with every request (`Authorization: Bearer`, and in the WebSocket's
// connection_init). The photos uploaded and comments posted with it are this browser's to edit and delete.
// Exporting the key and importing it elsewhere moves them to another browser; the server keeps only its hash.

const STORAGE_KEY = 'photoshare.ownerKey';
const VALID = /^[A-Za-z0-9_-]{32,128}$/;
/** When localStorage is unavailable (some private modes), the key lasts as long as the page. */
let inMemory = null;

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return inMemory;
  }
}

function store(key) {
  inMemory = key;
  try {
    localStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Kept in memory only.
  }
}

/** The key, made now if this browser has none. */
export function ownerKey() {
  const key = stored();
  if (key && VALID.test(key)) return key;
  const made = newKey();
  store(made);
  return made;
}

/** The `Authorization` header value. */
export function authorization() {
  return `Bearer ${ownerKey()}`;
}

/** Use `text` as this browser's key from now on (a key exported from another browser). */
export function importKey(text) {
  const key = text.trim();
  if (!VALID.test(key)) throw new Error('An owner key is 32 to 128 characters of A-Z, a-z, 0-9, - and _.');
  store(key);
}
