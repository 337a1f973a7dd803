import type { Config } from "tailwindcss";
import plugin from "tailwindcss/plugin";
import { cssVariablesOf, DARK, LIGHT, tailwindColors } from "./app/utils/palette";

// Dark mode follows the system (decision 031): every palette class reads a CSS variable, and the
// variables change under prefers-color-scheme. `theme.colors` is replaced, not extended, so a class
// from outside the palette (`bg-gray-100`) draws nothing rather than a colour that never swaps;
// tests/unit/palette.test.ts names such classes.
export default {
  content: ["./app/**/*.{ts,tsx}"],
  theme: {
    colors: tailwindColors(),
    extend: {
      // Tailwind's defaults for these name gray/blue, which the palette does not have.
      borderColor: { DEFAULT: "rgb(var(--slate-200) / <alpha-value>)" },
      ringColor: { DEFAULT: "rgb(var(--indigo-600) / <alpha-value>)" },
    },
  },
  plugins: [
    plugin(({ addBase }) => {
      addBase({
        // Form controls, scrollbars and the canvas before the stylesheet's colours follow too.
        ":root": { colorScheme: "light dark", ...cssVariablesOf(LIGHT) },
        // Screen only: a receipt printed from a dark system still prints dark text on white paper.
        "@media screen and (prefers-color-scheme: dark)": { ":root": cssVariablesOf(DARK) },
        "@media print": { ":root": { colorScheme: "light" } },
        // Tailwind sets the focus ring's offset to #fff outright; the card colour instead.
        "*, ::before, ::after": { "--tw-ring-offset-color": "rgb(var(--white))" },
      });
    }),
  ],
} satisfies Config;
