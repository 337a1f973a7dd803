# syntax=docker/dockerfile:1
# Credits Studio: one container, one Node process, one SQLite file on a volume at /data.
#
# Every step this file RUNs is an npm script (or `npm ci`) that CI runs too, because no Docker
# engine runs where we build: `npm ci` (.ci/run), `npm run build` (scripts/test-all.sh),
# `npm run container:start` and `npm run container:healthcheck` (tests/integration/container.test.ts
# runs the CMD and HEALTHCHECK lines of this file against a fresh data folder).
# tests/integration/dockerfile.test.ts checks that this file and package.json agree.
#
#   docker build -t credits-studio .
#   docker run -d --name credits -p 3000:3000 -v credits-data:/data --stop-timeout 30 \
#     -e SESSION_SECRET=... -e APP_URL=https://credits.example.com -e STRIPE_SECRET_KEY=... \
#     -e STRIPE_WEBHOOK_SECRET=... credits-studio

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- base: Node 22 LTS, npm quiet and offline-friendly -----------------------------------------
FROM ${NODE_IMAGE} AS base
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /app

# ---- deps: every dependency, for the build (better-sqlite3 installs its prebuilt binary) -------
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci

# ---- build: the Remix server and browser bundles ---------------------------------------------------
FROM deps AS build
COPY . .
RUN npm run build

# ---- prod-deps: runtime dependencies only (no dev dependencies in the image) ---------------------
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

# ---- runtime: slim, non-root, data on a volume -----------------------------------------------------
FROM base AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/build ./build
COPY --from=build /app/public ./public
COPY package.json package-lock.json server.js tsconfig.json ./
# Migrations, and the sources the operational scripts run with tsx (db:migrate, db:backup,
# db:restore, ledger:verify) inside the container. The server build already bundles the Stripe emulator;
# its sources are here for scripts/stripe-emulator.ts.
COPY db ./db
COPY app ./app
COPY stripe-emulator ./stripe-emulator
COPY scripts ./scripts
# The volume's mount point, owned by the unprivileged user (a new Docker volume takes this owner).
COPY --chown=node:node scripts/container-data-readme.txt /data/README.txt
USER node
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["npm", "run", "-s", "container:healthcheck"]
CMD ["npm", "run", "-s", "container:start"]
