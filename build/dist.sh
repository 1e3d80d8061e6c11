#!/usr/bin/env bash
# Builds installers. Needs the internet: it downloads Electron and rebuilds native modules for it.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci
npx electron-vite build
npx electron-builder --config build/electron-builder.yml "$@"
