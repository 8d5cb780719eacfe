# syntax=docker/dockerfile:1
#
# Codex Pooler: one image for every role. The command, or OBAN_MODE/PHX_SERVER with the default
# `codex-pooler start`, picks the role (web, worker, scheduler, migrations). Build:
#
#   docker build -t codex-pooler:local .
#
# Runs the TypeScript sources directly on Node 24 (native type stripping): no compile step.

ARG NODE_IMAGE=node:24-trixie-slim

# --- production dependencies ---------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The root `prepare` script (web/build.ts) runs on every install; without the dev dependencies it
# skips the UI build, which the ui stage below does.
COPY web/build.ts ./web/build.ts
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund

# --- admin UI assets -----------------------------------------------------------------------------
# With the dev dependencies installed, the root `prepare` script (web/build.ts) builds the admin UI
# into web/dist during `npm ci`. The image must ship it: the build fails here if index.html is missing.
FROM ${NODE_IMAGE} AS ui
WORKDIR /app
COPY package.json package-lock.json ./
COPY web ./web
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund \
 && test -f web/dist/index.html

# --- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG VERSION=dev
LABEL org.opencontainers.image.title="codex-pooler" \
      org.opencontainers.image.description="Self-hosted gateway pooling ChatGPT/Codex accounts behind stable Pool API keys" \
      org.opencontainers.image.source="https://github.com/icoretech/codex-pooler" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"

# tini reaps zombies and forwards signals, so SIGTERM reaches the process as an ordinary signal.
# tzdata provides /usr/share/zoneinfo; ca-certificates the TLS roots for the upstream and PostgreSQL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 codex_pooler \
 && useradd --system --uid 10001 --gid codex_pooler --home-dir /app --no-create-home --shell /usr/sbin/nologin codex_pooler

ENV NODE_ENV=production \
    HOME=/app \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    TZDIR=/usr/share/zoneinfo \
    PORT=4000 \
    CODEX_POOLER_DATA_DIR=/app/data \
    PATH=/app/bin:$PATH

WORKDIR /app

# Code stays owned by root (read-only for the service user); only the data directory is writable.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY priv ./priv
COPY --from=ui /app/web/dist ./web/dist
RUN chmod 0755 bin/codex-pooler \
 && mkdir -p /app/data \
 && chown codex_pooler:codex_pooler /app/data \
 && chmod 0700 /app/data \
 && node -e "if (!process.features.typescript) { console.error('this Node cannot strip types'); process.exit(1) }"

USER 10001:10001

EXPOSE 4000

# Passes for the roles that serve no HTTP (PHX_SERVER not true/1); otherwise GET /healthz must answer
# 200. X-Forwarded-Proto keeps HTTPS enforcement from redirecting the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const s=(process.env.PHX_SERVER||'').trim().toLowerCase();if(!['true','1','yes','on'].includes(s))process.exit(0);fetch('http://127.0.0.1:'+(process.env.PORT||'4000')+'/healthz',{headers:{'x-forwarded-proto':'https'},signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/app/bin/codex-pooler", "start"]
