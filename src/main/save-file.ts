import { dialog, type BrowserWindow } from 'electron';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { FileSaver } from '../core/usage/usage-csv';

/**
 * Electron main's save dialog for streamed exports: the operator picks the file, the export writes
 * into it chunk by chunk (waiting for the stream to drain), and a failure removes the partial file.
 */
export function electronFileSaver(window: () => BrowserWindow | null): FileSaver {
  return async (suggestedName) => {
    const win = window();
    const options = { defaultPath: suggestedName, filters: [{ name: 'CSV', extensions: ['csv'] }] };
    const choice = win ? await dialog.showSaveDialog(win, options) : await dialog.showSaveDialog(options);
    if (choice.canceled || !choice.filePath) return null;
    const path = choice.filePath;
    const out = createWriteStream(path, { mode: 0o600 });
    return {
      async write(chunk) {
        if (!out.write(chunk)) await once(out, 'drain');
      },
      async close() {
        out.end();
        await once(out, 'finish');
      },
      async abort() {
        out.destroy();
        await rm(path, { force: true });
      },
    };
  };
}
