/** @type {import('@remix-run/dev').AppConfig} */
export default {
  ignoredRouteFiles: ["**/.*", "**/*.test.{ts,tsx}"],
  serverModuleFormat: "esm",
  serverPlatform: "node",
  // ESM-only packages must be bundled into the server build; stripe, drizzle-orm and zod are
  // ESM packages of some 340 files, which Node's ESM loader resolves and links one by one at
  // start-up: bundled, they load as part of one file (decision 039). CommonJS packages stay out:
  // bundled into an ESM build, their require() of Node's built-ins fails.
  serverDependenciesToBundle: [/^@conform-to\//, /^stripe(\/|$)/, /^drizzle-orm(\/|$)/, /^zod(\/|$)/],
  tailwind: true,
  postcss: true,
  future: {
    v3_fetcherPersist: true,
    v3_relativeSplatPath: true,
    v3_throwAbortReason: true,
    v3_lazyRouteDiscovery: true,
  },
};
