// Formatting: times, days, names, avatar colours.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const longFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function parseTime(ts) { return ts ? new Date(ts) : null; }

function startOfDay(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate()); }
function daysAgo(d, now = new Date()) {
  return Math.round((startOfDay(now) - startOfDay(d)) / 86400000);
}

export function timeOfDay(ts) { return ts ? timeFmt.format(new Date(ts)) : ''; }
export function fullTime(ts) { return ts ? longFmt.format(new Date(ts)) : ''; }

// The label of a day separator in the chat.
export function dayLabel(ts) {
  const d = new Date(ts);
  const ago = daysAgo(d);
  if (ago === 0) return 'Today';
  if (ago === 1) return 'Yesterday';
  if (ago < 7) return dayFmt.format(d);
  return (d.getFullYear() === new Date().getFullYear() ? dateFmt : fullDateFmt).format(d);
}
export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

// Compact time for the conversation list.
export function listTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const ago = daysAgo(d);
  if (ago === 0) return timeFmt.format(d);
  if (ago < 7) return shortDayFmt.format(d);
  return (d.getFullYear() === new Date().getFullYear() ? dateFmt : fullDateFmt).format(d);
}

export function lastSeen(ts) {
  if (!ts) return 'Offline';
  const s = (Date.now() - new Date(ts).getTime()) / 1000;
  if (s < 60) return 'Active just now';
  if (s < 3600) return `Active ${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `Active ${Math.floor(s / 3600)} h ago`;
  const d = new Date(ts);
  return `Last seen ${daysAgo(d) === 1 ? 'yesterday' : listTime(ts)}`;
}

// Up to two letters from the first and last words that have one (emoji and
// punctuation are skipped).
export function initials(name) {
  const words = String(name || '').trim().split(/\s+/)
    .map((w) => (w.match(/[\p{L}\p{N}]/u) || [])[0]).filter(Boolean);
  if (!words.length) return '?';
  return (words[0] + (words.length > 1 ? words[words.length - 1] : '')).toUpperCase();
}

export function colorClass(id) {
  const n = Number(id) || 0;
  return 'c' + (((n * 2654435761) >>> 0) % 8);
}

export function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }
