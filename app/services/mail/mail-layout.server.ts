/**
 * One layout for every message: a plain-text part and an HTML part saying the same thing, with
 * every link absolute under APP_URL. Messages are built from a few paragraphs and at most one
 * action (a link that opens a page with a button: mail scanners follow links, so a link itself
 * never changes anything).
 */
export type RenderedMail = { subject: string; text: string; html: string };

export type MailContent = {
  subject: string;
  /** Plain sentences; no markup. */
  paragraphs: string[];
  action?: { label: string; url: string };
  /** A closing line, e.g. "If you did not ask for this, ignore this message." */
  footer?: string;
};

const PRODUCT = "Credits Studio";

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** An absolute URL for a path of the app; throws for anything that is not a path of it. */
export function appLink(appUrl: string, pathWithQuery: string): string {
  if (!pathWithQuery.startsWith("/") || pathWithQuery.startsWith("//")) throw new Error(`not an app path: ${pathWithQuery}`);
  const url = new URL(pathWithQuery, appUrl);
  if (url.origin !== new URL(appUrl).origin) throw new Error(`not an app path: ${pathWithQuery}`);
  return url.toString();
}

export function renderMail(content: MailContent): RenderedMail {
  const text = [
    ...content.paragraphs,
    ...(content.action ? [`${content.action.label}: ${content.action.url}`] : []),
    ...(content.footer ? [content.footer] : []),
    `— ${PRODUCT}`,
  ].join("\n\n");
  const paragraphs = content.paragraphs.map((p) => `<p style="margin:0 0 16px">${escapeHtml(p)}</p>`).join("");
  const action = content.action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(content.action.url)}" style="background:#4338ca;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">${escapeHtml(content.action.label)}</a></p>` +
      `<p style="margin:0 0 16px;font-size:13px;color:#475569">Or open this address: ${escapeHtml(content.action.url)}</p>`
    : "";
  const footer = content.footer ? `<p style="margin:16px 0 0;font-size:13px;color:#475569">${escapeHtml(content.footer)}</p>` : "";
  const html =
    `<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a;max-width:560px;margin:0 auto;padding:24px">` +
    `<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(content.subject)}</h1>${paragraphs}${action}${footer}` +
    `<p style="margin:24px 0 0;font-size:13px;color:#475569">— ${PRODUCT}</p></body></html>`;
  return { subject: content.subject, text, html };
}
