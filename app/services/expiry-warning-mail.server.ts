/**
 * The words of the expiry warning: one message per user and run, summarising every grant it warns
 * about, one line per UTC day ("60 credits expire on Thursday 3 December 2026 at 09:00 UTC").
 * Queued by expiry-warnings.server.ts in the transaction that marks those grants warned.
 */
import { appLink, renderMail, type RenderedMail } from "./mail/mail-layout.server";
import type { WarnedGrant } from "./money/grant-warnings.server";

// Spelled out by hand rather than with Intl: ICU versions differ in commas and spaces, and a
// mail's wording should not change with the Node build.
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const pad = (n: number) => String(n).padStart(2, "0");

function utcDay(ms: number): string {
  const d = new Date(ms);
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

function utcTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

const credits = (n: number) => `${n} credit${n === 1 ? "" : "s"}`;

/** One line per UTC day, soonest first; a day with several expiry times names the first. */
export function expiryLines(grants: readonly WarnedGrant[]): string[] {
  const days = new Map<string, { total: number; first: number; times: Set<number> }>();
  for (const g of [...grants].sort((a, b) => a.expiresAt - b.expiresAt)) {
    const day = utcDay(g.expiresAt);
    const entry = days.get(day) ?? { total: 0, first: g.expiresAt, times: new Set<number>() };
    entry.total += g.remaining;
    entry.times.add(g.expiresAt);
    days.set(day, entry);
  }
  return [...days].map(([day, { total, first, times }]) => {
    const at = times.size === 1 ? `at ${utcTime(first)}` : `(the first at ${utcTime(first)})`;
    return `${credits(total)} ${total === 1 ? "expires" : "expire"} on ${day} ${at}.`;
  });
}

export function expiryWarningMail(appUrl: string, grants: readonly WarnedGrant[]): RenderedMail {
  const total = grants.reduce((sum, g) => sum + g.remaining, 0);
  return renderMail({
    subject: `${credits(total)} of yours ${total === 1 ? "expires" : "expire"} soon`,
    paragraphs: [
      "Some of the credits on your Credits Studio account expire soon. Credits you have not spent by then are gone:",
      ...expiryLines(grants),
      `Spend them on ${appLink(appUrl, "/generate")} before then. To keep generating after that, see the packs and plans: ${appLink(appUrl, "/pricing")}`,
    ],
    action: { label: "See your credits", url: appLink(appUrl, "/settings/billing") },
    footer: "We send this once for each batch of credits, a few days before it expires.",
  });
}
