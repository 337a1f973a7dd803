// A server-rendered bar chart (plain SVG, no script) of a few series per day, with the figures
// in a table for screen readers and for anyone who wants the numbers.

export type ChartSeries = { key: string; label: string; color: string; values: number[] };

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { top: 12, right: 8, bottom: 28, left: 48 };

function niceMax(max: number): number {
  if (max <= 0) return 10;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

export function CreditsChart({
  id,
  title,
  days,
  series,
  unit = "credits",
}: {
  id: string;
  title: string;
  /** YYYY-MM-DD, oldest first. */
  days: string[];
  series: ChartSeries[];
  unit?: string;
}) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, series.length));
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const totals = series.map((s) => `${s.label}: ${s.values.reduce((a, b) => a + b, 0).toLocaleString("en-US")} ${unit}`);
  const ticks = [0, max / 2, max];
  const labelEvery = Math.ceil(days.length / 6);
  return (
    <figure className="card" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`} className="text-lg font-semibold">
        {title}
      </figcaption>
      <ul className="mt-2 flex flex-wrap gap-4 text-sm text-slate-800" aria-label="Legend">
        {series.map((s) => (
          <li key={s.key} className="flex items-center gap-2">
            <span aria-hidden="true" className="inline-block h-3 w-3 rounded-sm" style={{ backgroundColor: s.color }} />
            {s.label}
          </li>
        ))}
      </ul>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        className="mt-2 h-auto w-full"
        role="img"
        aria-labelledby={`${id}-svg-title ${id}-svg-desc`}
        data-testid={id}
      >
        <title id={`${id}-svg-title`}>{title}</title>
        <desc id={`${id}-svg-desc`}>
          {`${days[0] ?? ""} to ${days[days.length - 1] ?? ""}. ${totals.join("; ")}.`}
        </desc>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} stroke="#cbd5e1" strokeWidth={1} />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" fontSize={11} fill="#334155">
              {t.toLocaleString("en-US")}
            </text>
          </g>
        ))}
        {days.map((day, i) => (
          <g key={day}>
            {series.map((s, j) => {
              const v = s.values[i] ?? 0;
              if (v <= 0) return null;
              const x = PAD.left + i * slot + slot * 0.1 + j * barW;
              return (
                <rect key={s.key} x={x} y={y(v)} width={barW} height={Math.max(1, PAD.top + plotH - y(v))} fill={s.color}>
                  <title>{`${day}: ${v.toLocaleString("en-US")} ${unit} ${s.label.toLowerCase()}`}</title>
                </rect>
              );
            })}
            {i % labelEvery === 0 || i === days.length - 1 ? (
              <text x={PAD.left + i * slot + slot / 2} y={HEIGHT - 8} textAnchor="middle" fontSize={11} fill="#334155">
                {day.slice(5)}
              </text>
            ) : null}
          </g>
        ))}
      </svg>
      <details className="mt-2 text-sm">
        <summary className="cursor-pointer font-medium text-indigo-800">Figures per day</summary>
        <div className="mt-2 max-h-72 overflow-y-auto" role="region" aria-label={`${title}: figures per day`} tabIndex={0}>
          <table className="min-w-full text-left">
            <caption className="sr-only">{title}, per day (UTC)</caption>
            <thead>
              <tr>
                <th scope="col" className="px-2 py-1 font-semibold">
                  Day
                </th>
                {series.map((s) => (
                  <th scope="col" key={s.key} className="px-2 py-1 text-right font-semibold">
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {days.map((day, i) => (
                <tr key={day} className="border-t border-slate-100">
                  <th scope="row" className="px-2 py-1 font-normal tabular-nums">
                    {day}
                  </th>
                  {series.map((s) => (
                    <td key={s.key} className="px-2 py-1 text-right tabular-nums">
                      {(s.values[i] ?? 0).toLocaleString("en-US")}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
