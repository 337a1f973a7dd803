/**
 * CSV cells, written by hand for speed (the history export formats ~10 cells per row for tens of
 * thousands of rows: docs/decisions/038-csv-export.md). Each one answers exactly what its obvious
 * one-liner would — csvText the regexes it replaced, isoUtc Date#toISOString — and the tests hold
 * them to it.
 */
import { DAY_MS } from "./time";

/** What String.prototype.trim removes: ECMAScript WhiteSpace and LineTerminator code units. */
function isTrimmedAway(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** RFC 4180: a cell with a quote, comma or line break is quoted; so is one with blanks at either
 * end, which a spreadsheet would otherwise trim. */
function needsQuotes(s: string): boolean {
  const last = s.length - 1;
  if (last < 0) return false;
  if (isTrimmedAway(s.charCodeAt(0)) || isTrimmedAway(s.charCodeAt(last))) return true;
  for (let i = 0; i <= last; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 44 || c === 10 || c === 13) return true;
  }
  return false;
}

/**
 * A text cell: quoted when needed (RFC 4180), and defused against formula injection — a cell a
 * spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) gets a
 * leading apostrophe. Numbers are written as numbers, never through here.
 */
export function csvText(value: string): string {
  const c = value.charCodeAt(0);
  const defused = c === 61 || c === 43 || c === 45 || c === 64 || c === 9 || c === 13 ? `'${value}` : value;
  return needsQuotes(defused) ? `"${defused.replaceAll('"', '""')}"` : defused;
}

/** Minor units as a plain decimal ("5.00"): a number a spreadsheet sums, with no currency sign.
 * Two decimals, as formatMoney reads every currency the app sells in. */
export function csvMoney(minor: number): string {
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(minor));
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

const PAD2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
/** Past this, toISOString writes a six-digit year; before 1970 the day arithmetic below would
 * need floor care. Both are left to toISOString itself. */
const FAST_UNTIL_MS = Date.UTC(10000, 0, 1);
// A history's rows come in time order, many per day: the date part is formatted once per day.
let cachedDay = Number.NaN;
let cachedDayPrefix = "";

/** `new Date(ms).toISOString()` ("2026-12-03T17:15:19.497Z"), at a fraction of its cost. */
export function isoUtc(ms: number): string {
  if (!(Number.isInteger(ms) && ms >= 0 && ms < FAST_UNTIL_MS)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDayPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${cachedDayPrefix}${PAD2[hours]}:${PAD2[minutes]}:${PAD2[seconds]}.${PAD3[rest - seconds * 1000]}Z`;
}
