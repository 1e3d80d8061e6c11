import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ClientEvents } from '../core/rpc/event-feed';
import { isAppError } from '../core/errors';
import { USAGE_CSV_PATH } from '../shared/contract/usage.contract';
import { MAX_PAYLOAD_BYTES } from '../core/rpc/router';
import type { DeskWorkstation } from '../core/workstation';

// Browser mode: the same contract as the preload bridge, over HTTP on 127.0.0.1 only.
// A launch link carries a one-time token, exchanged for an HttpOnly, SameSite=Strict cookie
// naming the client; every call must carry it, come from our own Origin and name our Host.
// The event stream gives a client only what its signed-in role may see (core/rpc/event-feed.ts).

export interface LoopbackServer {
  /**
   * A new launch link: it works once, within LAUNCH_LINK_TTL_MS. Each browser context that
   * should open the desk needs its own.
   */
  launchUrl(): string;
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * How long a launch link works. Not a policy: just long enough to open a browser, short enough
 * that a link left in a terminal's scrollback or a log is useless to whoever finds it later.
 */
export const LAUNCH_LINK_TTL_MS = 2 * 60_000;
/** Unused links kept at most; the oldest is dropped first. */
const MAX_LIVE_LINKS = 16;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

export async function startLoopbackServer(
  ws: DeskWorkstation,
  opts: { rendererDir: string; port?: number; /** For tests of the link's lifetime. */ now?: () => number },
): Promise<LoopbackServer> {
  const links = new LaunchLinks(opts.now ?? Date.now);
  const clients = new Set<string>();
  const streams = new Map<ServerResponse, { client: string; feed: ClientEvents }>();
  let origin = '';
  let host = '';

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain', 'Internal error');
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    if (req.headers.host !== host) return send(res, 421, 'text/plain', 'Wrong host');
    const url = new URL(req.url ?? '/', origin);
    const client = clientOf(req);

    if (req.method === 'GET' && url.pathname === '/start') {
      if (!links.consume(url.searchParams.get('token') ?? '')) {
        return send(
          res,
          403,
          'text/plain',
          'This link is not valid: it was already used, it expired, or it belongs to another start. ' +
            'Press Enter in the terminal where the workstation runs for a new link.',
        );
      }
      const id = randomBytes(18).toString('base64url');
      clients.add(id);
      res.setHeader('Set-Cookie', `otac_client=${id}; HttpOnly; SameSite=Strict; Path=/`);
      // A page that moves on to the desk rather than a redirect: when the link was opened from the
      // launch page (file://), a redirect would stay in that cross-site navigation and the browser
      // would withhold the SameSite=Strict cookie; this page's own navigation is same-site.
      res.setHeader('Content-Security-Policy', CSP);
      return send(res, 200, 'text/html; charset=utf-8', OPENING_PAGE);
    }
    if (req.method === 'POST' && (url.pathname === '/rpc' || url.pathname === '/events')) {
      if (!client)
        return sendJson(res, 401, {
          ok: false,
          error: { code: 'NOT_CONNECTED', message: 'Open the workstation with the link printed by npm start.' },
        });
      if (req.headers.origin !== origin) return send(res, 403, 'text/plain', 'Cross-origin request refused');
      if (url.pathname === '/events') return openStream(client, res);
      const body = await readBody(req, MAX_PAYLOAD_BYTES + 1024);
      if (body === null) res.setHeader('Connection', 'close');
      if (body === null)
        return sendJson(res, 413, {
          ok: false,
          error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request is too large. Shorten the input.' },
        });
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return sendJson(res, 200, {
          ok: false,
          error: { code: 'VALIDATION', message: 'The request is not valid JSON.' },
        });
      }
      const { channel, payload } = (parsed ?? {}) as { channel?: unknown; payload?: unknown };
      const result = await ws.router.dispatch(`web-${client}`, channel, payload);
      // A sign-in (or a new role) gives this client's streams what is current for it now.
      for (const s of streams.values()) if (s.client === client) s.feed.afterCall();
      return sendJson(res, 200, result);
    }
    if (req.method === 'GET' && url.pathname === USAGE_CSV_PATH) {
      if (!client) return send(res, 401, 'text/plain', 'Open the workstation with the link printed by npm start.');
      // A download link is a navigation (no Origin header): the browser's own fetch metadata says
      // whether our page started it; the SameSite=Strict cookie already keeps other sites out.
      const site = req.headers['sec-fetch-site'];
      if (site !== undefined && site !== 'same-origin')
        return send(res, 403, 'text/plain', 'Cross-site request refused');
      return streamUsageCsv(`web-${client}`, url, res);
    }
    if (req.method === 'GET') {
      if (!client) return send(res, 401, 'text/html; charset=utf-8', NOT_CONNECTED_PAGE);
      return serveStatic(url.pathname, res);
    }
    send(res, 405, 'text/plain', 'Method not allowed');
  }

  function clientOf(req: IncomingMessage): string | null {
    const m = /(?:^|;\s*)otac_client=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '');
    return m?.[1] && clients.has(m[1]) ? m[1] : null;
  }

  function openStream(client: string, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'X-Accel-Buffering': 'no' });
    res.write('\n');
    // Open to any connected client, so the page knows its transport is up; it carries events
    // only while the client is signed in, and only those its role may see.
    const feed = ws.feed.open(`web-${client}`, (name, payload) => res.write(JSON.stringify({ name, payload }) + '\n'));
    streams.set(res, { client, feed });
    res.on('close', () => {
      feed.close();
      streams.delete(res);
    });
  }

  /** Writes the usage CSV batch by batch, waiting for the socket to drain: never the whole file in memory. */
  async function streamUsageCsv(sessionClient: string, url: URL, res: ServerResponse): Promise<void> {
    let file: Awaited<ReturnType<DeskWorkstation['usageCsv']['open']>>;
    try {
      file = await ws.usageCsv.open(sessionClient, url.searchParams);
    } catch (err) {
      const status = isAppError(err) ? (err.code === 'VALIDATION' ? 400 : err.code === 'FORBIDDEN' ? 403 : 401) : 500;
      return send(res, status, 'text/plain; charset=utf-8', isAppError(err) ? err.message : 'Internal error');
    }
    res.writeHead(200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="${file.fileName}"`,
    });
    let closed = false;
    res.on('close', () => (closed = true));
    for await (const chunk of file.chunks) {
      if (closed) break;
      if (!res.write(chunk)) await new Promise<void>((r) => (res.once('drain', r), res.once('close', r)));
    }
    res.end();
  }

  async function serveStatic(pathname: string, res: ServerResponse): Promise<void> {
    const rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '');
    const file = normalize(join(opts.rendererDir, rel));
    if (!file.startsWith(normalize(opts.rendererDir) + sep)) return send(res, 404, 'text/plain', 'Not found');
    try {
      const data = await readFile(file);
      res.setHeader('Content-Security-Policy', CSP);
      send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', data);
    } catch {
      send(res, 404, 'text/plain', 'Not found');
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  host = `127.0.0.1:${port}`;
  origin = `http://${host}`;
  return {
    launchUrl: () => `${origin}/start?token=${links.issue()}`,
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        for (const [res, s] of streams) {
          s.feed.close();
          res.end();
        }
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One-time launch tokens: each is accepted once, before it expires, compared in constant time. */
class LaunchLinks {
  private readonly live = new Map<string, number>(); // token → expiry

  constructor(private readonly now: () => number) {}

  issue(): string {
    const token = randomBytes(24).toString('base64url');
    this.live.set(token, this.now() + LAUNCH_LINK_TTL_MS);
    while (this.live.size > MAX_LIVE_LINKS) this.live.delete(this.live.keys().next().value!);
    return token;
  }

  consume(token: string): boolean {
    const given = Buffer.from(token);
    let found: string | null = null;
    for (const [candidate, expires] of this.live) {
      if (expires <= this.now()) {
        this.live.delete(candidate);
        continue;
      }
      const want = Buffer.from(candidate);
      if (given.length === want.length && timingSafeEqual(given, want)) found = candidate;
    }
    // Deleted before the cookie is set: a second request with the same token, even a
    // concurrent one, finds nothing (this runs without awaiting, so it cannot interleave).
    if (found !== null) this.live.delete(found);
    return found !== null;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Stop buffering but drain, so the 413 reaches the client before the socket closes.
        chunks.length = 0;
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const OPENING_PAGE =
  '<!doctype html><meta http-equiv="refresh" content="0;url=/"><title>OTAC Issuer Workstation</title><p>Opening the workstation… <a href="/">continue</a></p>';

const NOT_CONNECTED_PAGE =
  '<!doctype html><title>OTAC Issuer Workstation</title><p>Open the workstation with the link printed by <code>npm start</code>.</p>';
