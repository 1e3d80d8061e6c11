import { request, type IncomingMessage } from 'node:http';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One plain HTTP request, as an attacker's script on the same machine would send it. */
export function http(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

/** An open /events stream and every event it has delivered so far. */
export interface EventStream {
  readonly status: number;
  readonly events: Array<{ name: string; payload: unknown }>;
  close(): void;
}

export function openEventStream(origin: string, cookie: string): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const events: Array<{ name: string; payload: unknown }> = [];
    const req = request(
      `${origin}/events`,
      { method: 'POST', headers: { Cookie: cookie, Origin: origin } },
      (res: IncomingMessage) => {
        let buffer = '';
        res.on('data', (c: Buffer) => {
          buffer += c.toString();
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (line) events.push(JSON.parse(line) as { name: string; payload: unknown });
          }
        });
        res.on('error', () => undefined);
        // The stream's first byte is written as it opens; wait for it so no event is missed.
        res.once('data', () => resolve({ status: res.statusCode ?? 0, events, close: () => req.destroy() }));
      },
    );
    req.on('error', (err) => {
      if (!('code' in err && err.code === 'ECONNRESET')) reject(err);
    });
    req.end();
  });
}
