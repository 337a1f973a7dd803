#!/bin/sh
# The container's start command: Dockerfile CMD -> `npm run container:start` -> this script.
# CI runs the very same command outside Docker against a fresh data folder
# (tests/integration/container.test.ts), so what the image does at start is tested.
#
# 1. The data folder must be writable (a volume at /data owned by the image's user, uid 1000).
# 2. A backup left at $DATA_DIR/restore.sqlite is restored first (npm run db:restore -- --pending).
# 3. exec: the Node server replaces this shell, so SIGTERM from `docker stop` or Fly reaches it
#    directly and it shuts down gracefully. It applies pending migrations before it listens.
#    The Node flags are npm start's (package.json; decision 039), which a unit test holds equal.
set -eu

DATA_DIR="${DATA_DIR:-/data}"
export DATA_DIR

if ! mkdir -p "$DATA_DIR" 2>/dev/null || [ ! -w "$DATA_DIR" ]; then
  echo "container-start: DATA_DIR $DATA_DIR is not writable by uid $(id -u)." >&2
  echo "  Mount a volume there owned by uid 1000 (e.g. docker run -v credits-data:/data ...;" >&2
  echo "  for a host folder: chown 1000:1000 <folder>)." >&2
  exit 73 # EX_CANTCREAT
fi

if [ -f "$DATA_DIR/restore.sqlite" ]; then
  echo "container-start: $DATA_DIR/restore.sqlite found: restoring it before the app starts"
  npm run -s db:restore -- --pending
fi

exec node --max-semi-space-size=8 --max-old-space-size=160 server.js
