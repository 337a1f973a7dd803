// `npm run dev`: rebuilds on every change (remix watch, development mode) and restarts the server
// when the build changes (node --watch). Same server entry as production, so what you try here is
// what runs in the container.
import { spawn } from "node:child_process";
import fs from "node:fs";

const env = { ...process.env, NODE_ENV: process.env.NODE_ENV ?? "development" };
const children = [];
function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: "inherit", env });
  children.push(child);
  child.on("exit", (code) => {
    for (const other of children) if (other !== child) other.kill("SIGTERM");
    process.exit(code ?? 0);
  });
  return child;
}

// One build first, so the server has something to start with.
const first = spawn("npx", ["remix", "build", "--sourcemap"], { stdio: "inherit", env: { ...env, NODE_ENV: "development" } });
first.on("exit", (code) => {
  if (code !== 0 || !fs.existsSync("build/index.js")) process.exit(code ?? 1);
  run("npx", ["remix", "watch"]);
  run(process.execPath, ["--watch-path=build", "--watch-preserve-output", "server.js"]);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => children.forEach((c) => c.kill(signal)));
