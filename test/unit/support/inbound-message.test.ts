import { describe, expect, it } from 'vitest';
import { fromAddress, parseInboundMessage } from '../../../src/core/support/inbound-message';

describe('an inbound e-mail as the claim-3 path reads it', () => {
  it('takes the From address (angle brackets or bare), lower-cased', () => {
    expect(fromAddress('"Ada Lovelace" <Ada@Example.org>')).toBe('ada@example.org');
    expect(fromAddress('ada@example.org')).toBe('ada@example.org');
    expect(fromAddress('no address here')).toBeNull();
    expect(fromAddress(undefined)).toBeNull();
  });

  it('names one mailbox or none: display names and comments hold no address; several, a group, non-ASCII or two From headers give none', () => {
    expect(fromAddress('"ada@example.org" <mallory@attacker.example>')).toBe('mallory@attacker.example');
    expect(fromAddress('mallory@attacker.example (ada@example.org)')).toBe('mallory@attacker.example');
    expect(fromAddress('ada@example.org, mallory@attacker.example')).toBeNull();
    expect(fromAddress('Ada <ada@example.org>, Mallory <mallory@attacker.example>')).toBeNull();
    expect(fromAddress('friends: ada@example.org, mallory@attacker.example;')).toBeNull();
    expect(fromAddress('\u212Aim@example.org')).toBeNull(); // KELVIN SIGN, which toLowerCase() folds to "k"
    expect(fromAddress('KIM@Example.ORG')).toBe('kim@example.org');
    expect(
      parseInboundMessage('From: ada@example.org\r\nFrom: mallory@attacker.example\r\n\r\n7K3M-Q9XD').from,
    ).toBeNull();
  });

  it('reads plain, quoted-printable and base64 text, and the text part of a multipart message', () => {
    const plain = 'From: Ada <ada@example.org>\r\nSubject: x\r\n\r\n7K3M-Q9XD\r\n';
    expect(parseInboundMessage(plain)).toEqual({ from: 'ada@example.org', text: '7K3M-Q9XD\r\n' });
    const qp =
      'From: ada@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello =E2=80=94 7K3M=\r\n-Q9XD';
    expect(parseInboundMessage(qp).text).toContain('7K3M-Q9XD');
    const b64 = `From: ada@example.org\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('code 7K3M-Q9XD').toString('base64')}`;
    expect(parseInboundMessage(b64).text).toBe('code 7K3M-Q9XD');
    const multi = [
      'From: ada@example.org',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/html',
      '',
      '<p>HTML 11111111</p>',
      '--b1',
      'Content-Type: text/plain',
      '',
      'plain 7K3M-Q9XD',
      '--b1--',
    ].join('\r\n');
    expect(parseInboundMessage(multi).text).toContain('plain 7K3M-Q9XD');
    expect(parseInboundMessage(multi).text).not.toContain('HTML');
  });

  it('yields no text for a message without a text part, and unfolds headers', () => {
    const html = 'From:\r\n Ada <ada@example.org>\r\nContent-Type: text/html\r\n\r\n<p>7K3M-Q9XD</p>';
    expect(parseInboundMessage(html)).toEqual({ from: 'ada@example.org', text: '' });
  });
});
