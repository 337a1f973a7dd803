// Process-wide counters, rendered in Prometheus' text format by /metrics. In memory on purpose:
// one process, and Prometheus handles resets by itself.

type Labels = Record<string, string | number>;
type Counter = { help: string; values: Map<string, number> };

const counters = new Map<string, Counter>();

const HELP: Record<string, string> = {
  http_requests_total: "HTTP requests by method, route group and status class",
  stripe_webhooks_total: "Stripe webhook deliveries by event type and outcome",
  generations_total: "Generation jobs by kind and final status",
  ledger_writes_total: "Ledger writes by transaction type and outcome",
  redemptions_total: "Redeem code tries by outcome (redeemed, or the refusal's reason)",
  auto_recharge_total: "Auto-recharge steps by outcome (claimed, sent, granted, failed, switched_off)",
};

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
}

export function incrementCounter(name: string, labels: Labels = {}, by = 1): void {
  let counter = counters.get(name);
  if (!counter) {
    counter = { help: HELP[name] ?? name, values: new Map() };
    counters.set(name, counter);
  }
  const key = labelKey(labels);
  counter.values.set(key, (counter.values.get(key) ?? 0) + by);
}

export function readCounter(name: string, labels: Labels = {}): number {
  return counters.get(name)?.values.get(labelKey(labels)) ?? 0;
}

/** Counters plus gauges computed at scrape time (balances on hold, jobs running...). */
export function renderMetrics(gauges: Array<{ name: string; help: string; value: number; labels?: Labels }> = []): string {
  const lines: string[] = [];
  for (const [name, counter] of counters) {
    lines.push(`# HELP ${name} ${counter.help}`, `# TYPE ${name} counter`);
    for (const [key, value] of counter.values) lines.push(`${name}${key ? `{${key}}` : ""} ${value}`);
  }
  const seen = new Set<string>();
  for (const g of gauges) {
    if (!seen.has(g.name)) {
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      seen.add(g.name);
    }
    const key = g.labels ? labelKey(g.labels) : "";
    lines.push(`${g.name}${key ? `{${key}}` : ""} ${g.value}`);
  }
  return lines.join("\n") + "\n";
}
