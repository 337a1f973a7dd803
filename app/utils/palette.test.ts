import fs from "node:fs";
import path from "node:path";
import colors from "tailwindcss/colors";
import { describe, expect, it } from "vitest";
import { contrastOf, DARK, LIGHT, luminanceOf, SCALES, type PaletteColor, type Shade } from "./palette";

// Dark mode is the light pages with the palette swapped (decision 031): these checks are what make
// that safe for a page nobody has looked at in dark.

const TEXT: Shade[] = ["500", "600", "700", "800", "900", "950"];
const TINT: Shade[] = ["50", "100", "200"];
const SOLID: Shade[] = ["600", "700", "800"];

/** Every text-on-background pair the pages can write: on a surface, on a slate step, or on a tint of their own or slate's colour. */
function readablePairs(): [PaletteColor, PaletteColor][] {
  const pairs: [PaletteColor, PaletteColor][] = [];
  const backgrounds: PaletteColor[] = ["white", ...SCALES.flatMap((s) => TINT.map((t) => `${s}-${t}` as const))];
  for (const scale of SCALES)
    for (const text of TEXT)
      for (const bg of backgrounds)
        if (bg === "white" || bg.startsWith("slate-") || bg.startsWith(`${scale}-`) || scale === "slate") pairs.push([`${scale}-${text}`, bg]);
  // A button: surface-coloured text ("text-white") on a solid colour.
  for (const scale of SCALES) for (const solid of SOLID) pairs.push(["white", `${scale}-${solid}`]);
  return pairs;
}

describe("palette", () => {
  it("keeps every pair that reads at AA in light (4.5:1) at AA in dark", () => {
    const lost = readablePairs()
      .filter(([fg, bg]) => contrastOf(LIGHT[fg], LIGHT[bg]) >= 4.5 && contrastOf(DARK[fg], DARK[bg]) < 4.5)
      .map(([fg, bg]) => `${fg} on ${bg}: ${contrastOf(DARK[fg], DARK[bg]).toFixed(2)}`);
    expect(lost).toEqual([]);
    expect(readablePairs().length).toBeGreaterThan(300);
  });

  it("is dark in dark: surfaces near black, text near white, tints darker than their text", () => {
    expect(luminanceOf(DARK.white)).toBeLessThan(0.02);
    expect(luminanceOf(DARK["slate-50"])).toBeLessThan(luminanceOf(DARK.white));
    expect(luminanceOf(DARK["slate-900"])).toBeGreaterThan(0.8);
    for (const scale of SCALES) expect(luminanceOf(DARK[`${scale}-50`]), scale).toBeLessThan(luminanceOf(DARK[`${scale}-900`]));
    // Light is Tailwind's own palette, untouched.
    expect(LIGHT["slate-700"]).toEqual([0x33, 0x41, 0x55]);
  });

  it("surfaces stay apart in dark: page, card, hover, track", () => {
    const steps = (["slate-50", "white", "slate-100", "slate-200"] as const).map((c) => luminanceOf(DARK[c]));
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(new Set(steps).size).toBe(4);
  });
});

// ---------------------------------------------------------------------------------------------
// The source uses only the palette: a Tailwind colour outside it draws nothing (theme.colors is
// replaced), and a hex colour never swaps.

const ROOT = path.resolve(import.meta.dirname, "../..");
// E-mail HTML carries its own inline colours (mail clients ignore our stylesheet); a receipt
// printed prints on white.
const HEX_ALLOWED = new Set(["app/services/mail/mail-layout.server.ts", "app/routes/settings.billing_.payments.$id.tsx"]);

function appFiles(dir = "app"): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return appFiles(rel);
    return /\.(ts|tsx|css)$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [rel] : [];
  });
}

describe("colours in app/", () => {
  // Descriptors, not values: reading Tailwind's renamed colours (lightBlue...) prints a warning.
  const outside = Object.entries(Object.getOwnPropertyDescriptors(colors))
    .filter(([name, d]) => "value" in d && typeof d.value === "object" && !(SCALES as readonly string[]).includes(name))
    .map(([name]) => name);
  const foreignClass = new RegExp(`(?<![\\w-])(?:[\\w-]+:)*(?:bg|text|border|ring|ring-offset|divide|outline|fill|stroke|from|via|to|decoration|accent|caret|shadow|placeholder)-(?:${outside.join("|")})-\\d{2,3}\\b`, "g");

  it("names no Tailwind colour outside the palette", () => {
    expect(outside).toContain("gray");
    expect("hover:bg-gray-100".match(foreignClass)).toEqual(["hover:bg-gray-100"]); // the check itself bites
    const found = appFiles().flatMap((file) => (fs.readFileSync(path.join(ROOT, file), "utf8").match(foreignClass) ?? []).map((m) => `${file}: ${m}`));
    expect(found).toEqual([]);
  });

  it("writes no hex colour outside e-mail and print styles", () => {
    const found = appFiles()
      .filter((file) => !HEX_ALLOWED.has(file) && file !== "app/utils/palette.ts")
      .flatMap((file) => (fs.readFileSync(path.join(ROOT, file), "utf8").match(/["'`:(\s]#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?\b/g) ?? []).map((m) => `${file}: ${m.trim()}`));
    expect(found).toEqual([]);
  });
});
