#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine of this kind: system packages (as root),
# npm dependencies without the Electron/Playwright binary downloads, and the three bundles.
set -euo pipefail
cd "$(dirname "$0")/.."

# wrk: the HTTP load generator of `npm run bench -- verify` (bench/support/wrk.ts).
APT_PACKAGES=(pcscd libpcsclite-dev vsmartcard-vpcd pcsc-tools chromium xvfb xauth poppler-utils softhsm2 opensc wrk)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]} — run: sudo apt-get install ${missing[*]}" >&2
  fi
fi

export ELECTRON_SKIP_BINARY_DOWNLOAD="${ELECTRON_SKIP_BINARY_DOWNLOAD:-1}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ]; then
  echo "setup: npm ci (better-sqlite3, pcsclite and pkcs11js compile from source: about two minutes)"
  npm ci --no-audit --no-fund
elif [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: dependencies changed, npm install"
  npm install --no-audit --no-fund
fi

echo "setup: building out/main, out/preload, out/renderer"
npx electron-vite build >/dev/null
