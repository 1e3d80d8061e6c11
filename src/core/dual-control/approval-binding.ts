import { createHash } from 'node:crypto';

// Field names whose values are secrets: masked, never hashed into the audit (a digest of a
// passphrase would invite guessing it offline). Matched on the whole key, so policy fields such as
// passkeyLength or pinRetries stay in the digest.
const SECRET = /^(\w*password|passphrase|component|secret|pin)$/i;

/**
 * The digest of what an approval approves: the action and the call's input without the approval,
 * secrets masked, keys sorted, so the same request always gives the same digest. It goes into the
 * approval's audit entry, so the trail shows which input a second person approved.
 */
export function approvalDigest(action: string, input: unknown): string {
  return createHash('sha256')
    .update(canonical({ action, input: strip(input) }))
    .digest('hex');
}

function strip(input: unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  return Object.fromEntries(Object.entries(input).filter(([k]) => k !== 'approval'));
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${SECRET.test(k) ? '"[secret]"' : canonical(x)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
