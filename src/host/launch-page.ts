import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../core/atomic-file';
import { makePrivateDir } from '../core/private-files';

// `--open` must not put the launch link on Chromium's command line: /proc/<pid>/cmdline, and so
// `ps`, shows every process's arguments to every local account. Chromium is opened on a local
// page instead, which forwards to the link; the page is a 0600 file in a 0700 folder of the data
// directory, so only the account running the workstation can read it. Other accounts see a file
// path; the link itself works once and for two minutes (loopback-server.ts).

export interface LaunchPage {
  readonly fileUrl: string;
  remove(): void;
}

/** Writes the page that forwards to `launchUrl` into `<dataDir>/launch/`. */
export function writeLaunchPage(dataDir: string, launchUrl: string): LaunchPage {
  const dir = join(dataDir, 'launch');
  makePrivateDir(dir);
  const file = join(dir, 'open-workstation.html');
  const href = escapeHtml(launchUrl);
  writeFileAtomic(
    file,
    '<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">' +
      `<meta http-equiv="refresh" content="0;url=${href}"><title>OTAC Issuer Workstation</title>` +
      `<p>Opening the workstation… <a href="${href}">continue</a></p>`,
  );
  return { fileUrl: pathToFileURL(file).href, remove: () => rmSync(file, { force: true }) };
}

/** Chromium as an app window on the launch page: no token among the arguments. */
export function chromiumArgs(fileUrl: string, profileDir: string, runningAsRoot: boolean): string[] {
  return [
    `--app=${fileUrl}`,
    `--user-data-dir=${profileDir}`,
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    ...(runningAsRoot ? ['--no-sandbox'] : []),
  ];
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
