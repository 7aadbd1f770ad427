/**
 * Times as people read them on a terminal (issue 11 §3): local clock time and how far away it
 * is — "ends 14:32 (in 7 h 59 min)". Pure functions of their arguments (the clock and the time
 * zone are passed in or are the process's), so they can be tested exactly.
 */

const MINUTE_S = 60;
const HOUR_S = 60 * MINUTE_S;
const DAY_S = 24 * HOUR_S;

/**
 * A duration in the two largest units that matter, rounded down: "7 h 59 min", "59 min",
 * "45 s", "2 d 3 h", "0 s". Negative durations count as 0.
 */
export function relativeDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total < MINUTE_S) return `${total} s`;
  const days = Math.floor(total / DAY_S);
  const hours = Math.floor((total % DAY_S) / HOUR_S);
  const minutes = Math.floor((total % HOUR_S) / MINUTE_S);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return `${minutes} min`;
}

function twoDigits(value: number): string {
  return String(value).padStart(2, '0');
}

/** Local clock time "14:32", with the date ("2026-12-07 14:32") when it is not today's. */
export function localClockTime(at: Date, now: Date): string {
  const clock = `${twoDigits(at.getHours())}:${twoDigits(at.getMinutes())}`;
  const sameDay = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() && at.getDate() === now.getDate();
  return sameDay ? clock : `${at.getFullYear()}-${twoDigits(at.getMonth() + 1)}-${twoDigits(at.getDate())} ${clock}`;
}

/** "14:32 (in 7 h 59 min)", or "14:32 (now)" once it has passed. */
export function clockAndRelative(at: Date, now: Date): string {
  const left = at.getTime() - now.getTime();
  return `${localClockTime(at, now)} (${left >= 1000 ? `in ${relativeDuration(left)}` : 'now'})`;
}
