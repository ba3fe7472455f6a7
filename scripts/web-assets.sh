#!/usr/bin/env bash
# The web UI's front-end libraries (htmx, uPlot, Cytoscape) from the npm registry, at the
# versions package-lock.json pins; nothing of theirs is in the repository. Without npm the UI
# still serves every page (tables and forms work with JavaScript off), only without charts.
set -euo pipefail
cd "$(dirname "$0")/../src/modelkeep/api/web/assets"
if cmp -s package-lock.json node_modules/.installed-lock 2>/dev/null; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing npm (apt-get) for the web UI's libraries..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "npm is missing: the web UI serves its pages without charts and the lineage graph (install npm, run make)" >&2
    exit 0
  fi
fi
npm ci --omit=dev --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.installed-lock
