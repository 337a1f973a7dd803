import { getFormProps, getInputProps, getSelectProps, useForm, type SubmissionResult } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import { Form, useActionData, useLocation, useNavigation } from "@remix-run/react";
import { Problem } from "./forms";
import { AutoRechargeFormSchema } from "~/utils/auto-recharge-schemas";
import { formatMoney } from "~/utils/format";

// The billing page's saved card and auto-recharge settings (decision 027). Real POSTs that work
// without JavaScript; with it, Conform checks the fields with the server's schema. "Add a card"
// goes to Stripe's page (reloadDocument: a redirect to another origin).

type View = {
  enabled: boolean;
  thresholdCredits: number | null;
  pack: string | null;
  maxRechargesPerMonth: number | null;
  maxAmountPerMonth: number | null;
  switchedOffReason: string | null;
  thisMonth: { recharges: number; amount: number };
  card: { brand: string; last4: string } | null;
};
type ActionData = { intent?: string; result?: SubmissionResult<string[]> };

const brandName = (brand: string) => (brand ? brand[0].toUpperCase() + brand.slice(1) : "Card");

export function AutoRechargeSection({ view, packs, token, disabled }: { view: View; packs: { id: string; name: string; credits: number; currency: string | null }[]; token: string; disabled: boolean }) {
  const actionData = useActionData<ActionData>();
  const navigation = useNavigation();
  const location = useLocation();
  const submitting = navigation.state === "submitting" && navigation.formData?.get("intent") === "auto-recharge";
  const [form, fields] = useForm({
    id: `recharge-settings-${location.key}`,
    lastResult: actionData?.intent === "auto-recharge" ? actionData.result : undefined,
    constraint: getZodConstraint(AutoRechargeFormSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: AutoRechargeFormSchema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
    defaultValue: {
      enabled: view.enabled ? "on" : undefined,
      thresholdCredits: view.thresholdCredits !== null ? String(view.thresholdCredits) : "",
      pack: view.pack ?? packs[0]?.id ?? "",
      maxRechargesPerMonth: view.maxRechargesPerMonth !== null ? String(view.maxRechargesPerMonth) : "",
      maxDollarsPerMonth: view.maxAmountPerMonth !== null ? (view.maxAmountPerMonth / 100).toFixed(2) : "",
    },
  });
  return (
    <section aria-labelledby="auto-recharge-heading" className="card space-y-4" data-testid="auto-recharge">
      <h2 id="auto-recharge-heading" className="text-lg font-semibold">
        Saved card and auto-recharge
      </h2>
      <div className="flex flex-wrap items-center gap-3" data-testid="saved-card">
        {view.card ? (
          <>
            <p>
              Saved card: <span className="font-semibold">{brandName(view.card.brand)}</span> ending in <span className="font-mono">{view.card.last4}</span>
            </p>
            <Form method="post">
              <input type="hidden" name="intent" value="remove-card" />
              <button type="submit" className="btn-secondary">
                Remove card
              </button>
            </Form>
          </>
        ) : (
          <>
            <p>No card saved. Save one here, or tick “Save my card” when you buy a pack.</p>
            <Form method="post" reloadDocument>
              <input type="hidden" name="intent" value="add-card" />
              <input type="hidden" name="token" value={token} />
              <button type="submit" className="btn-secondary" disabled={disabled}>
                Add a card
              </button>
            </Form>
          </>
        )}
      </div>
      {view.switchedOffReason ? (
        <p className="text-sm font-semibold text-red-800" role="alert" data-testid="auto-recharge-off">
          Auto-recharge is off: the last three payments with your saved card failed. Check the card, then switch it on again.
        </p>
      ) : null}
      <Form method="post" {...getFormProps(form)} className="grid gap-3 sm:grid-cols-2" data-testid="auto-recharge-form">
        <input type="hidden" name="intent" value="auto-recharge" />
        <div className="sm:col-span-2">
          <label className="flex items-center gap-2">
            <input {...getInputProps(fields.enabled, { type: "checkbox", value: "on" })} key={fields.enabled.key} />
            Recharge automatically
          </label>
          <Problem meta={fields.enabled} />
        </div>
        <div>
          <label htmlFor={fields.thresholdCredits.id} className="label">
            When my balance falls below (credits)
          </label>
          <input {...getInputProps(fields.thresholdCredits, { type: "text" })} key={fields.thresholdCredits.key} inputMode="numeric" className="input mt-1" />
          <Problem meta={fields.thresholdCredits} />
        </div>
        <div>
          <label htmlFor={fields.pack.id} className="label">
            Buy this pack
          </label>
          <select {...getSelectProps(fields.pack)} key={fields.pack.key} className="input mt-1">
            {packs.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({p.credits} credits)
              </option>
            ))}
          </select>
          <Problem meta={fields.pack} />
        </div>
        <div>
          <label htmlFor={fields.maxRechargesPerMonth.id} className="label">
            At most this many recharges a month (optional)
          </label>
          <input {...getInputProps(fields.maxRechargesPerMonth, { type: "text" })} key={fields.maxRechargesPerMonth.key} inputMode="numeric" className="input mt-1" />
          <Problem meta={fields.maxRechargesPerMonth} />
        </div>
        <div>
          <label htmlFor={fields.maxDollarsPerMonth.id} className="label">
            At most this many dollars a month (optional)
          </label>
          <input {...getInputProps(fields.maxDollarsPerMonth, { type: "text" })} key={fields.maxDollarsPerMonth.key} inputMode="decimal" className="input mt-1" />
          <Problem meta={fields.maxDollarsPerMonth} />
        </div>
        <p className="text-sm text-slate-700 sm:col-span-2" data-testid="auto-recharge-month">
          This month (UTC): {view.thisMonth.recharges} recharge{view.thisMonth.recharges === 1 ? "" : "s"}, {formatMoney(view.thisMonth.amount, packs[0]?.currency ?? "usd")}.
        </p>
        <div className="sm:col-span-2">
          <button type="submit" className="btn-primary" disabled={submitting}>
            {submitting ? "Saving…" : "Save auto-recharge"}
          </button>
        </div>
      </Form>
    </section>
  );
}
