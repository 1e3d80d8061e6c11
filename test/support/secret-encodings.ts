/** The forms a leaked secret would take in a file, a log or an answer: raw bytes, hex (both cases), base64. */
export function encodings(secret: Buffer): string[] {
  const hex = secret.toString('hex');
  return [secret.toString('latin1'), hex, hex.toUpperCase(), secret.toString('base64'), secret.toString('base64url')];
}
