#!/usr/bin/env bash
# Starts the workstation on its embedded defaults: Electron when its binary is installed,
# otherwise browser mode (the same services, served on 127.0.0.1 to Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# The test bed gives this desk a PC/SC reader with virtual cards when no physical reader is wired.
if [ "$(id -u)" = 0 ] && [ "${OTAC_TESTBED:-1}" = 1 ]; then
  if npx tsx scripts/testbed.ts up; then
    npx tsx scripts/demo-desk.ts || true
  else
    echo "start: no PC/SC test bed; the workstation will say so in its status bar"
  fi
fi

if node -e "process.exit(require('fs').existsSync(require('electron')) ? 0 : 1)" 2>/dev/null && [ -n "${DISPLAY:-}" ]; then
  echo "start: Electron"
  exec npx electron .
fi
echo "start: browser mode (no Electron binary here; install it with 'npm install electron' on a machine with internet)"
exec npx tsx src/host/browser-host.ts --open
