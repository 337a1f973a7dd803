import type { Toast } from "~/services/session.server";

const styles: Record<Toast["kind"], string> = {
  success: "bg-emerald-50 text-emerald-900 ring-emerald-300",
  error: "bg-red-50 text-red-900 ring-red-300",
  info: "bg-sky-50 text-sky-900 ring-sky-300",
};

export function ToastMessage({ toast }: { toast: Toast }) {
  return (
    <div className="mx-auto mt-4 max-w-5xl px-4">
      <div role="status" aria-live="polite" className={`rounded-md p-3 ring-1 ${styles[toast.kind]}`} data-testid="toast">
        <p className="font-semibold">{toast.title}</p>
        {toast.description ? <p className="text-sm">{toast.description}</p> : null}
      </div>
    </div>
  );
}
