// The few parts of an inbound e-mail (RFC 5322 / 2045) the claim-3 path reads: the From address and
// the text. A customer's mail program sends plain text, quoted-printable or base64, maybe inside a
// multipart/alternative; the first text/plain part is taken. Anything else yields no text, and the
// message is then ignored (and audited) rather than guessed at.

export interface InboundMessage {
  readonly from: string | null;
  readonly text: string;
}

interface Part {
  readonly headers: Map<string, string>;
  readonly body: string;
}

function splitPart(raw: string): Part {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
    }
  }
  return { headers, body };
}

/** The address of a From header: the part in angle brackets, else the whole, lower-cased. */
export function fromAddress(header: string | undefined): string | null {
  if (!header) return null;
  const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(header);
  const bare = /([^\s<>"',;:]+@[^\s<>"',;:]+)/.exec(header);
  const address = angle?.[1] ?? bare?.[1];
  return address ? address.toLowerCase() : null;
}

function decode(body: string, encoding: string | undefined): string {
  const e = (encoding ?? '7bit').toLowerCase();
  if (e === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (e === 'quoted-printable')
    return body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return body;
}

function textOf(part: Part, depth: number): string | null {
  const type = part.headers.get('content-type') ?? 'text/plain';
  if (/^text\/plain/i.test(type)) return decode(part.body, part.headers.get('content-transfer-encoding'));
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (!/^multipart\//i.test(type) || !boundary || depth > 3) return null;
  for (const chunk of part.body.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const found = textOf(splitPart(chunk.replace(/^\r?\n/, '')), depth + 1);
    if (found !== null) return found;
  }
  return null;
}

export function parseInboundMessage(raw: string): InboundMessage {
  const top = splitPart(raw);
  return { from: fromAddress(top.headers.get('from')), text: textOf(top, 0) ?? '' };
}
