import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["build/**", "public/build/**", "node_modules/**", "data/**", "test-results/**", "playwright-report/**", ".cache/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
      // A failure path in a money system must be visible: no silently swallowed promise.
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  {
    // The money path is asynchronous (decision 036): a write whose promise nobody awaits could
    // fail unseen, or a refusal be read as a success (`if (promise)`). Type-aware, so TS only.
    files: ["app/**/*.ts", "app/**/*.tsx", "db/**/*.ts", "scripts/**/*.ts", "tests/**/*.ts", "stripe-emulator/**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
    },
  },
);
