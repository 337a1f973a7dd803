// The one gate for redirect targets that come from a request (?redirectTo=, a hidden field).
// An open redirect after log-in is a phishing tool, and browsers forgive a lot (they drop TAB/CR/LF,
// read "\" as "/", resolve "/.//x" to "//x"), so a prefix test is not enough: the target is parsed
// the way a browser will parse it and kept only if it is already the canonical same-origin path.

export const DEFAULT_AFTER_LOGIN = "/generate";

/** Longer than any page of ours needs; a huge value only serves to hide something. */
const MAX_LENGTH = 2048;

/** The target if it is a safe same-origin path (path, query, fragment) of appUrl; otherwise null. */
export function safeRedirectTarget(target: unknown, appUrl: string): string | null {
  if (typeof target !== "string" || target.length === 0 || target.length > MAX_LENGTH) return null;
  // Visible ASCII only: no whitespace, no control characters, no unicode look-alikes of "/" or "\".
  if (!/^[\x21-\x7E]+$/.test(target)) return null;
  if (!target.startsWith("/") || target.startsWith("//") || target.includes("\\")) return null;
  const path = target.split(/[?#]/, 1)[0]!;
  // None of our paths needs percent-encoding, and an encoded "/", "\\", "%" or look-alike in the path
  // can be decoded into "//host" by a proxy or a later redirect.
  if (path.includes("%")) return null;
  let base: URL;
  let url: URL;
  try {
    base = new URL(appUrl);
    url = new URL(target, base);
  } catch {
    return null;
  }
  if (url.origin !== base.origin || url.username !== "" || url.password !== "") return null;
  const canonical = `${url.pathname}${url.search}${url.hash}`;
  // Anything the parser rewrote ("/./", "/../", characters it escapes) is refused rather than
  // repaired: the browser would parse the rewritten form again and might land elsewhere.
  if (canonical !== target || canonical.startsWith("//")) return null;
  return canonical;
}

/** safeRedirectTarget, or the fallback page. */
export function safeRedirect(target: unknown, appUrl: string, fallback = DEFAULT_AFTER_LOGIN): string {
  return safeRedirectTarget(target, appUrl) ?? fallback;
}
