/**
 * The frame of every page the emulator serves: plain HTML, readable, and marked as test mode.
 * Everything sits in a landmark (the test-mode banner in <header>, the rest in <main>): a strict
 * axe check (tests/e2e/emulator-a11y.spec.ts) counts content outside landmarks too.
 */

const TEST_MODE_LABEL = "Test mode — no real payments";

export function layout(title: string, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Stripe emulator (test mode)</title>
<style>
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1a1a1a; background: #f6f7f9; }
  .test-mode { margin: 0; padding: .6rem 1rem; background: #ffe08a; color: #3d2e00; font-weight: 700; text-align: center; }
  main { max-width: 32rem; margin: 2rem auto; padding: 1.5rem; background: #fff; border-radius: .5rem; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
  h1 { font-size: 1.5rem; margin-top: 0; }
  table { width: 100%; border-collapse: collapse; margin: 1rem 0; }
  caption { text-align: left; font-weight: 600; padding-bottom: .25rem; }
  th, td { text-align: left; padding: .4rem .25rem; border-bottom: 1px solid #e3e5e8; }
  .num { text-align: right; }
  .total { font-size: 1.25rem; }
  .actions { display: flex; flex-direction: column; gap: .6rem; }
  button { font: inherit; padding: .7rem 1rem; border-radius: .4rem; border: 1px solid #4a4f57; background: #fff; color: #1a1a1a; cursor: pointer; }
  button.primary { background: #1f4fd1; border-color: #1f4fd1; color: #fff; font-weight: 700; }
  button.secondary { background: #f0f1f3; }
  button:focus-visible, a:focus-visible { outline: 3px solid #ff9f1c; outline-offset: 2px; }
  /* The test card names are long: the select takes the page's width, never more (a 390 px phone). */
  select { font: inherit; width: 100%; max-width: 100%; padding: .5rem; border: 1px solid #4a4f57; border-radius: .4rem; background: #fff; color: #1a1a1a; }
  code { overflow-wrap: anywhere; }
  .help { color: #4a4f57; font-size: .9rem; }
  a { color: #1f4fd1; }
  fieldset { border: 1px solid #c9ccd1; border-radius: .4rem; margin: 0 0 .75rem; padding: .5rem 1rem; }
  legend { font-weight: 600; padding: 0 .25rem; }
  .choice { display: flex; gap: .5rem; align-items: center; padding: .25rem 0; }
  .choice input { width: 1.1rem; height: 1.1rem; }
  .notice { background: #e6f4ea; color: #14532d; padding: .5rem .75rem; border-radius: .4rem; }
  .warning { background: #fdecea; color: #7f1d1d; padding: .5rem .75rem; border-radius: .4rem; }
  section { border-top: 1px solid #e3e5e8; padding-top: 1rem; margin-top: 1rem; }
  h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
</style>
</head>
<body>
<header><p class="test-mode" role="note">${TEST_MODE_LABEL}</p></header>
<main>
${main}
</main>
</body>
</html>
`;
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}
