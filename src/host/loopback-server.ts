import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { MAX_PAYLOAD_BYTES } from '../core/rpc/router';
import type { Workstation } from '../core/workstation';

// Browser mode: the same contract as the preload bridge, over HTTP on 127.0.0.1 only.
// A per-launch token in the start URL is exchanged for an HttpOnly, SameSite=Strict cookie
// naming the client; every call must carry it, come from our own Origin and name our Host.

export interface LoopbackServer {
  readonly url: string; // the start URL with the launch token
  readonly origin: string;
  close(): Promise<void>;
}

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
  ws: Workstation,
  opts: { rendererDir: string; port?: number },
): Promise<LoopbackServer> {
  const token = randomBytes(24).toString('base64url');
  const clients = new Set<string>();
  const streams = new Set<ServerResponse>();
  let origin = '';
  let host = '';

  const unsubscribe = ws.events.subscribe((name, payload) => {
    const line = JSON.stringify({ name, payload }) + '\n';
    for (const s of streams) s.write(line);
  });

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
      const given = Buffer.from(url.searchParams.get('token') ?? '');
      const want = Buffer.from(token);
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        return send(res, 403, 'text/plain', 'This link is not valid for this workstation. Use the link printed by npm start.');
      }
      const id = randomBytes(18).toString('base64url');
      clients.add(id);
      res.setHeader('Set-Cookie', `otac_client=${id}; HttpOnly; SameSite=Strict; Path=/`);
      res.writeHead(303, { Location: '/' });
      return void res.end();
    }
    if (req.method === 'POST' && (url.pathname === '/rpc' || url.pathname === '/events')) {
      if (!client) return sendJson(res, 401, { ok: false, error: { code: 'NOT_CONNECTED', message: 'Open the workstation with the link printed by npm start.' } });
      if (req.headers.origin !== origin) return send(res, 403, 'text/plain', 'Cross-origin request refused');
      if (url.pathname === '/events') return openStream(res);
      const body = await readBody(req, MAX_PAYLOAD_BYTES + 1024);
      if (body === null) res.setHeader('Connection', 'close');
      if (body === null) return sendJson(res, 413, { ok: false, error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request is too large. Shorten the input.' } });
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return sendJson(res, 200, { ok: false, error: { code: 'VALIDATION', message: 'The request is not valid JSON.' } });
      }
      const { channel, payload } = (parsed ?? {}) as { channel?: unknown; payload?: unknown };
      return sendJson(res, 200, await ws.router.dispatch(`web-${client}`, channel, payload));
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

  function openStream(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'X-Accel-Buffering': 'no' });
    res.write('\n');
    streams.add(res);
    for (const [name, payload] of ws.events.snapshot()) res.write(JSON.stringify({ name, payload }) + '\n');
    res.on('close', () => streams.delete(res));
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
    url: `${origin}/start?token=${token}`,
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        for (const s of streams) s.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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

const NOT_CONNECTED_PAGE =
  '<!doctype html><title>OTAC Issuer Workstation</title><p>Open the workstation with the link printed by <code>npm start</code>.</p>';
