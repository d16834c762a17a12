// Dates, times and sizes for people: shown in the browser's time zone and locale; sent to the API as
// RFC 3339 with the local offset.

const DATE_TIME = {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
};

/** "28 Nov 2026, 19:24:36" in the local time zone. */
export function formatDateTime(iso) {
  return new Intl.DateTimeFormat(undefined, DATE_TIME).format(new Date(iso));
}

/** ["28 Nov 2026", "19:24:36 GMT+1"]: date, and time with the zone, where a time stands alone. */
export function formatDateAndTimeZone(iso) {
  const { year, month, day, ...time } = DATE_TIME;
  return [
    new Intl.DateTimeFormat(undefined, { year, month, day }).format(new Date(iso)),
    new Intl.DateTimeFormat(undefined, { ...time, timeZoneName: 'short' }).format(new Date(iso)),
  ];
}

/** "28 Nov 2026, 19:24" for gallery captions. */
export function formatShort(iso) {
  const { second: _, ...options } = DATE_TIME;
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

/** "19:24:36" local. */
export function formatTime(date) {
  return new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(date);
}

/** "28 Nov 2026" for a `YYYY-MM-DD` date from a date input. */
export function formatDay(day) {
  return new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' }).format(
    startOfDay(day),
  );
}

/** "Europe/Berlin (UTC+01:00)": the browser's time zone and its current offset. */
export function timeZoneLabel(date = new Date()) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'local time';
  return `${zone} (UTC${offset(date)})`;
}

/** The local offset at `date` as `+05:30`. */
function offset(date) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

/** `date` as RFC 3339 in local time with its offset, e.g. `2026-11-28T00:00:00.000+05:30`. */
export function toRfc3339(date) {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    offset(date)
  );
}

function parseDay(day) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day ?? '');
  return match ? [Number(match[1]), Number(match[2]) - 1, Number(match[3])] : null;
}

/** The first instant of a local calendar day (`YYYY-MM-DD`), or null for an invalid day. */
export function startOfDay(day) {
  const parts = parseDay(day);
  return parts ? new Date(parts[0], parts[1], parts[2], 0, 0, 0, 0) : null;
}

/** The last millisecond of a local calendar day: range ends are inclusive. */
export function endOfDay(day) {
  const parts = parseDay(day);
  return parts ? new Date(parts[0], parts[1], parts[2], 23, 59, 59, 999) : null;
}

/** Today as `YYYY-MM-DD` in local time. */
export function today() {
  const now = new Date();
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** "906 B", "12.4 KB", "3.1 MB". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** "4:07" for a remaining time in milliseconds. */
export function formatCountdown(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(seconds / 3600);
  const rest = `${pad(Math.floor((seconds % 3600) / 60), hours ? 2 : 1)}:${pad(seconds % 60)}`;
  return hours ? `${hours}:${rest}` : rest;
}
