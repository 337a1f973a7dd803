import { useEffect, useRef, useState } from "react";
import { useLocation } from "@remix-run/react";
import type { Toast } from "~/services/session.server";

const styles: Record<Toast["kind"], string> = {
  success: "bg-emerald-50 text-emerald-900 ring-emerald-300",
  error: "bg-red-50 text-red-900 ring-red-300",
  info: "bg-sky-50 text-sky-900 ring-sky-300",
};

/** How long a message stays before it hides by itself (JavaScript only); hovering or focusing it
 * holds it, so nobody loses a message while reading it. */
export const TOAST_AUTO_HIDE_MS = 6000;

/**
 * A one-time message. It is already consumed on the server (the flash is gone from the session),
 * so loading the page again shows it without the message: that is how "Dismiss" works without
 * JavaScript (a link to this very URL). With JavaScript the link just hides it.
 */
export function ToastMessage({ toast }: { toast: Toast }) {
  const location = useLocation();
  const [hidden, setHidden] = useState(false);
  const [held, setHeld] = useState(false);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (hidden || held) return;
    const timer = window.setTimeout(() => setHidden(true), TOAST_AUTO_HIDE_MS);
    return () => window.clearTimeout(timer);
  }, [hidden, held]);

  if (hidden) return null;
  // A landmark of its own: it sits between the header and <main>, and content outside every
  // landmark is lost to people who move by landmarks (axe "region").
  return (
    <section aria-label="Message" className="mx-auto mt-4 max-w-5xl px-4">
      <div
        ref={box}
        className={`flex items-start gap-3 rounded-md p-3 ring-1 ${styles[toast.kind]}`}
        data-testid="toast"
        onMouseEnter={() => setHeld(true)}
        onMouseLeave={() => setHeld(box.current?.contains(document.activeElement) ?? false)}
        onFocus={() => setHeld(true)}
        onBlur={(e) => setHeld(box.current?.contains(e.relatedTarget as Node | null) ?? false)}
      >
        <div role="status" aria-live="polite" className="min-w-0 flex-1">
          <p className="font-semibold">{toast.title}</p>
          {toast.description ? <p className="text-sm">{toast.description}</p> : null}
        </div>
        <a
          href={`${location.pathname}${location.search}`}
          onClick={(e) => {
            e.preventDefault();
            setHidden(true);
          }}
          className="rounded-md px-2 py-1 text-sm font-medium underline hover:bg-white/60 focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600"
        >
          Dismiss<span className="sr-only"> this message</span>
        </a>
      </div>
    </section>
  );
}
