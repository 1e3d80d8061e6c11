import { pathToFileURL } from 'node:url';

// Which URLs are the app's own window, kept free of electron so plain Node tests can check it.

/**
 * The renderer dev server (electron-vite sets ELECTRON_RENDERER_URL) is honoured only in an
 * unpackaged run and only as plain http on the loopback interface. A packaged app always loads
 * its own files, so an environment variable cannot point a desk's window at another site.
 */
export function devRendererUrl(value: string | undefined, isPackaged: boolean): URL | null {
  if (isPackaged || !value) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  return url.protocol === 'http:' && loopback && !url.username && !url.password ? url : null;
}

/**
 * Matches the app's own pages exactly: the dev server's origin, or the built index.html file.
 * Parsed and compared, never by prefix (`http://localhost:5173.evil` starts with the dev URL).
 */
export function appUrlMatcher(app: URL | { file: string }): (url: string) => boolean {
  if (app instanceof URL) {
    const origin = app.origin;
    return (url) => parse(url)?.origin === origin;
  }
  const index = pathToFileURL(app.file);
  return (url) => {
    const u = parse(url);
    return !!u && u.protocol === 'file:' && u.host === index.host && u.pathname === index.pathname;
  };
}

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}
