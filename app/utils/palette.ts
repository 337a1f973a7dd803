// The app's colours, light and dark (decision 031). Pages write ordinary Tailwind classes
// (`bg-white`, `text-slate-700`, `bg-red-50 text-red-900`); each class reads a CSS variable, and
// the variables take their dark values when the system asks for dark. A page written to read well
// in light therefore reads well in dark without a `dark:` class of its own.
//
// The dark scale mirrors the light one (50 <-> 950, 100 <-> 900 ...), so "light tint behind dark
// text" becomes "dark tint behind light text" and a contrast that holds in light holds in dark
// (tests/unit/palette.test.ts checks every text/background pair). Three places bend the mirror,
// each for contrast: the text shades 500/600 come out a step lighter than a plain mirror would
// give, tinted backgrounds (200) a step darker, and slate's surfaces are spread so page (50),
// card (white), hover (100) and track (200) stay distinguishable.
//
// Only this module may import Tailwind's colours: the browser never loads it (components import
// its types), tailwind.config.ts turns it into classes and variables.
import colors from "tailwindcss/colors";

export const SCALES = ["slate", "indigo", "red", "emerald", "amber", "sky"] as const;
export const SHADES = ["50", "100", "200", "300", "400", "500", "600", "700", "800", "900", "950"] as const;
export type Scale = (typeof SCALES)[number];
export type Shade = (typeof SHADES)[number];
/** A colour of the palette, named as its Tailwind class names it: `indigo-700`, `white`. */
export type PaletteColor = `${Scale}-${Shade}` | "white";
type Rgb = [number, number, number];

function rgbOf(hex: string): Rgb {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`palette: ${hex} is not #rrggbb`);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

/** `t` of the way from a to b, per channel. */
function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return a.map((v, i) => Math.round(v * (1 - t) + b[i] * t)) as Rgb;
}

const MIRROR: Record<Shade, Shade> = {
  "50": "950", "100": "900", "200": "800", "300": "700", "400": "600", "500": "400",
  "600": "400", "700": "300", "800": "200", "900": "100", "950": "50",
};

function lightOf(scale: Scale, shade: Shade): Rgb {
  return rgbOf(colors[scale][shade]);
}

function darkOf(scale: Scale, shade: Shade): Rgb {
  const c = (s: Shade) => lightOf(scale, s);
  if (shade === "600") return mix(c("400"), c("300"), 0.75); // muted text stays >= 4.5:1 on tinted notices
  if (scale === "slate") {
    // Surfaces: page 950, card (white) 900, hover/chip 800, track/border 700, input ring 600.
    const lifted: Partial<Record<Shade, Shade>> = { "100": "800", "200": "700", "300": "600", "400": "500" };
    if (lifted[shade]) return c(lifted[shade]);
  } else if (shade === "200") {
    return mix(c("800"), c("900"), 0.5); // a tint behind text, not a second accent
  }
  return c(MIRROR[shade]);
}

export type Palette = Record<PaletteColor, Rgb>;

function buildPalette(of: (scale: Scale, shade: Shade) => Rgb, white: Rgb): Palette {
  const entries: [PaletteColor, Rgb][] = [["white", white]];
  for (const scale of SCALES) for (const shade of SHADES) entries.push([`${scale}-${shade}`, of(scale, shade)]);
  return Object.fromEntries(entries) as Palette;
}

export const LIGHT: Palette = buildPalette(lightOf, [255, 255, 255]);
// "white" is the card surface: in dark, the step between the page (slate-950) and a chip (slate-800).
export const DARK: Palette = buildPalette(darkOf, rgbOf(colors.slate["900"]));

/** `--slate-700: 51 65 85` and so on: channels only, so Tailwind's opacity modifiers (`/60`) work. */
export function cssVariablesOf(palette: Palette): Record<string, string> {
  return Object.fromEntries(Object.entries(palette).map(([name, rgb]) => [`--${name}`, rgb.join(" ")]));
}

/** The `theme.colors` of tailwind.config.ts: every swapped colour as a variable, plus black. */
export function tailwindColors() {
  const variable = (name: string) => `rgb(var(--${name}) / <alpha-value>)`;
  return {
    transparent: "transparent",
    current: "currentColor",
    inherit: "inherit",
    // Only behind a video: letterboxing stays black in both schemes.
    black: "#000",
    white: variable("white"),
    ...Object.fromEntries(SCALES.map((scale) => [scale, Object.fromEntries(SHADES.map((shade) => [shade, variable(`${scale}-${shade}`)]))])),
  };
}

/** WCAG 2 relative luminance of an sRGB colour, 0 (black) to 1 (white). */
export function luminanceOf([r, g, b]: Rgb): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG 2 contrast ratio, 1 to 21. */
export function contrastOf(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminanceOf(a), luminanceOf(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
