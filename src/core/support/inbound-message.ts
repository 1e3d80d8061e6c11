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
  /** Header names given more than once: a second From would let the parser and the gateway disagree. */
  readonly repeated: Set<string>;
  readonly body: string;
}

function splitPart(raw: string): Part {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  const repeated = new Set<string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      if (headers.has(name)) repeated.add(name);
      else headers.set(name, line.slice(colon + 1).trim());
    }
  }
  return { headers, repeated, body };
}

/**
 * The one address of a From header, ASCII lower-cased; null unless it names exactly one mailbox.
 * Quoted display names and comments are set aside first (they may hold any address and name no
 * mailbox). A From of several addresses or a group has no single author the gateway's DMARC check
 * vouched for (RFC 5322 3.6.2, RFC 7489 6.6.1), and a non-ASCII address is refused rather than
 * case-mapped: Unicode folding maps another mailbox onto ours ("\u212Aim" → "kim", KELVIN SIGN).
 */
export function fromAddress(header: string | undefined): string | null {
  if (!header) return null;
  const mailboxes = header.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\([^()]*\)/g, ' ');
  const addresses = mailboxes.match(/[^\s<>"',;:()]+@[^\s<>"',;:()]+/g) ?? [];
  const address = addresses.length === 1 ? addresses[0] : undefined;
  if (!address || !/^[\x21-\x7e]+$/.test(address)) return null;
  return asciiLower(address);
}

/** Lower case for ASCII letters only, as SQLite's lower() does. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
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
  const from = top.repeated.has('from') ? null : fromAddress(top.headers.get('from'));
  return { from, text: textOf(top, 0) ?? '' };
}
