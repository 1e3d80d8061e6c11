import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseInboundMessage } from '../../src/core/support/inbound-message';
import type { SupportOptions } from '../../src/core/support/support-settings';
import { eventually } from './testbed';

// The passkey's channels in tests (docs/support.md): a real SMTP server on loopback (smtp-server) that
// the workstation's nodemailer delivers to and the test reads, an HTTP sink standing for the bank's
// SMS gateway that records each POST, and the customer's own mail client sending to the workstation's
// inbound listener (claim 3). Boundaries we do not own; each records what crossed it.

export interface SentMail {
  readonly envelopeFrom: string;
  readonly to: string[];
  readonly from: string | null;
  readonly text: string;
  readonly raw: string;
}

export interface MailSink {
  readonly port: number;
  readonly mails: SentMail[];
  close(): Promise<void>;
}

export async function mailSink(): Promise<MailSink> {
  const { SMTPServer } = await import('smtp-server');
  const mails: SentMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const parsed = parseInboundMessage(raw);
        const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({
          envelopeFrom,
          to: session.envelope.rcptTo.map((r) => r.address),
          from: parsed.from,
          text: parsed.text,
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export interface SmsMessage {
  readonly authorization: string | undefined;
  readonly body: { to: string; text: string };
}

export interface SmsSink {
  readonly url: string;
  readonly token: string;
  readonly messages: SmsMessage[];
  /** The status the gateway answers with (tests set 500 to see a refusal). */
  status: number;
  close(): Promise<void>;
}

export async function smsSink(): Promise<SmsSink> {
  const messages: SmsMessage[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const sink: { status: number } = { status: 202 };
  const server = createServer((req, res) => {
    void read(req).then((body) => {
      messages.push({ authorization: req.headers.authorization, body: JSON.parse(body) as SmsMessage['body'] });
      res.writeHead(sink.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  server.unref(); // a sink shared by several tests never holds the process open
  const port = (server.address() as AddressInfo).port;
  return Object.assign(sink, {
    url: `http://127.0.0.1:${port}/sms`,
    token: 'test-gateway-token',
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

export const ISSUER_INBOX = 'card-support@issuer.example';
export const ISSUER_FROM = 'OTAC Card Support <cards@issuer.example>';

/** Support settings for a desk that mails through `mail`, texts through `sms` and listens on a free port. */
export function supportOptions(mail: MailSink | null, sms: SmsSink | null, inbound = false): SupportOptions {
  return {
    ...(mail ? { smtp: { host: '127.0.0.1', port: mail.port, tls: 'none', from: ISSUER_FROM } } : {}),
    ...(sms ? { sms: { url: sms.url, token: sms.token } } : {}),
    ...(inbound ? { inbound: { address: ISSUER_INBOX, port: 0, host: '127.0.0.1' } } : {}),
  };
}

/** The passkey in a message the desk sent (the indented line of the e-mail; the word after "passkey" in an SMS). */
export function passkeyIn(text: string): string {
  const m = /^ {4}(\S+)\s*$/m.exec(text) ?? /passkey (\S+),/.exec(text);
  if (!m?.[1]) throw new Error('no passkey in the message');
  return m[1];
}

/** Waits for the `count`-th mail to `to` and returns its passkey. */
export async function mailedPasskey(sink: MailSink, to: string, count = 1): Promise<string> {
  await eventually(() => sink.mails.filter((m) => m.to.includes(to)).length >= count, `mail ${count} to ${to}`, 10_000);
  const mine = sink.mails.filter((m) => m.to.includes(to));
  return passkeyIn(mine[count - 1]?.text ?? '');
}

/** The customer's own mail program: sends `text` from `from` to the workstation's inbound listener. */
export async function customerSends(port: number, from: string, text: string, to = ISSUER_INBOX): Promise<void> {
  const { createTransport } = await import('nodemailer');
  const t = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    await t.sendMail({ from, to, subject: 'Re: Your card support passkey', text });
  } finally {
    t.close();
  }
}
