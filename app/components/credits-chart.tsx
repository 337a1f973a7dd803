// A server-rendered bar chart (plain SVG, no script) of a few series per day, with the figures
// in a table for screen readers and for anyone who wants the numbers.

import type { PaletteColor } from "~/utils/palette";

export type ChartSeries = {
  key: string;
  label: string;
  /** A palette colour, never a hex: it is drawn through the palette's variable, so dark mode swaps it. */
  color: PaletteColor;
  values: number[];
};

// Two drawings of the same figures: a wide one, and a narrow one for phones. An SVG scales its
// text with its width, so the wide one's 11-unit labels would be ~6 px on a 390 px screen; the
// narrow one is drawn about as wide as a phone shows it, so its labels stay >= 11 px there.
const LAYOUTS = {
  wide: {
    width: 640,
    height: 220,
    font: 11,
    labels: 6,
    className: "hidden sm:block",
  },
  narrow: {
    width: 340,
    height: 200,
    font: 12,
    labels: 4,
    className: "sm:hidden",
  },
} as const;
// A presentation attribute (fill="...") cannot hold var(): the colour goes in a style instead.
function cssColorOf(color: PaletteColor): string {
  return `rgb(var(--${color}))`;
}

const PAD = { top: 12, right: 8, bottom: 28, left: 44 };

/** Axis ticks in whole credits: a step of 1, 2 or 5 × 10^k (never 2.5), about four steps high. */
export function axisTicks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const rough = Math.max(1, max / 4);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((st) => st >= rough)!;
  const top = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= top; t += step) ticks.push(t);
  return ticks;
}

function Plot({
  id,
  title,
  days,
  series,
  unit,
  layout,
}: {
  id: string;
  title: string;
  days: string[];
  series: ChartSeries[];
  unit: string;
  layout: keyof typeof LAYOUTS;
}) {
  const { width: WIDTH, height: HEIGHT, font, labels, className } = LAYOUTS[layout];
  const ticks = axisTicks(Math.max(0, ...series.flatMap((s) => s.values)));
  const max = ticks[ticks.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, series.length));
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const totals = series.map((s) => `${s.label}: ${s.values.reduce((a, b) => a + b, 0).toLocaleString("en-US")} ${unit}`);
  const labelEvery = Math.ceil(days.length / labels);
  const svgId = `${id}-${layout}`;
  return (
    <svg
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      className={`mt-2 h-auto w-full ${className}`}
      role="img"
      aria-labelledby={`${svgId}-title ${svgId}-desc`}
      data-testid={id}
      data-layout={layout}
    >
      <title id={`${svgId}-title`}>{title}</title>
      <desc id={`${svgId}-desc`}>{`${days[0] ?? ""} to ${days[days.length - 1] ?? ""}. ${totals.join("; ")}.`}</desc>
      {ticks.map((t) => (
        <g key={t}>
          <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} className="stroke-slate-300" strokeWidth={1} />
          <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" fontSize={font} className="fill-slate-700" data-testid="chart-tick">
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
              <rect key={s.key} x={x} y={y(v)} width={barW} height={Math.max(1, PAD.top + plotH - y(v))} style={{ fill: cssColorOf(s.color) }}>
                <title>{`${day}: ${v.toLocaleString("en-US")} ${unit} ${s.label.toLowerCase()}`}</title>
              </rect>
            );
          })}
          {i % labelEvery === 0 || i === days.length - 1 ? (
            <text x={PAD.left + i * slot + slot / 2} y={HEIGHT - 8} textAnchor="middle" fontSize={font} className="fill-slate-700">
              {day.slice(5)}
            </text>
          ) : null}
        </g>
      ))}
    </svg>
  );
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
  const active = days.map((_, i) => series.some((sr) => (sr.values[i] ?? 0) !== 0));
  const activeDays = active.filter(Boolean).length;
  return (
    <figure className="card" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`} className="text-lg font-semibold">
        {title}
      </figcaption>
      <ul className="mt-2 flex flex-wrap gap-4 text-sm text-slate-800" aria-label="Legend">
        {series.map((s) => (
          <li key={s.key} className="flex items-center gap-2">
            <span aria-hidden="true" className="inline-block h-3 w-3 rounded-sm" style={{ backgroundColor: cssColorOf(s.color) }} />
            {s.label}
          </li>
        ))}
      </ul>
      {activeDays === 0 ? (
        // A grid with no bars reads as broken; a sentence says what it means.
        <p className="mt-3 text-sm text-slate-700" data-testid={`${id}-empty`}>
          No activity in these {days.length} days yet. Bars appear here once credits are bought or spent.
        </p>
      ) : (
        <>
          <Plot id={id} title={title} days={days} series={series} unit={unit} layout="wide" />
          <Plot id={id} title={title} days={days} series={series} unit={unit} layout="narrow" />
        </>
      )}
      {activeDays === 0 ? null : (
        <details className="mt-2 text-sm">
          <summary className="cursor-pointer font-medium text-indigo-800">Figures per day</summary>
          <p className="mt-1 text-slate-700">
            {activeDays === days.length ? "Every day had activity." : `The ${activeDays} of ${days.length} days with activity; the others are zero.`}
          </p>
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
                {days.map((day, i) =>
                  !active[i] ? null : (
                    <tr key={day} className="border-t border-slate-100" data-testid={`${id}-day`}>
                      <th scope="row" className="px-2 py-1 font-normal tabular-nums">
                        {day}
                      </th>
                      {series.map((s) => (
                        <td key={s.key} className="px-2 py-1 text-right tabular-nums">
                          {(s.values[i] ?? 0).toLocaleString("en-US")}
                        </td>
                      ))}
                    </tr>
                  )
                )}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </figure>
  );
}
