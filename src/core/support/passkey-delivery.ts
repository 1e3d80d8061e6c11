import type { Transporter } from 'nodemailer';
import { AppError } from '../errors';
import type { InboundMailSettings, SmsGatewaySettings, SmtpSettings, SupportOptions } from './support-settings';
import { cardEnding } from './support-view';

// Sending the passkey to the customer's registered second contact (source 004 claims 1, 3, 8): e-mail
// through the bank's mail server (nodemailer, an SMTP client), or SMS through the bank's gateway (one
// HTTPS POST of JSON with a bearer token). The message is built here and handed to the transport;
// nothing of it is logged or kept, and a failure is reported without the message.

export interface PasskeyMessage {
  /** The registered e-mail address or mobile number. */
  readonly to: string;
  /** The passkey as the customer should read it ("7K3M-Q9XD"). */
  readonly passkey: string;
  readonly expiresAt: Date;
  /** The card's N; a message names it only by its last characters (cardEnding). */
  readonly cardN: string;
}

export interface PasskeySender {
  readonly channel: 'email' | 'sms';
  send(m: PasskeyMessage): Promise<void>;
  close?(): void;
}

const hhmm = (d: Date) => `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;

export class SmtpPasskeySender implements PasskeySender {
  readonly channel = 'email' as const;
  private transport: Transporter | null = null;

  constructor(
    private readonly smtp: SmtpSettings,
    private readonly inbound: InboundMailSettings | undefined,
  ) {}

  // The SMTP client is loaded on first use: a desk without a mail server never loads it.
  private async client(): Promise<Transporter> {
    if (this.transport) return this.transport;
    const { createTransport } = await import('nodemailer');
    const smtp = this.smtp;
    this.transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.tls === 'implicit',
      requireTLS: smtp.tls === 'starttls',
      ignoreTLS: smtp.tls === 'none',
      ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
      // A passkey waits at the desk: a dead server is reported in seconds, not minutes.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
      logger: false,
      debug: false,
    });
    return this.transport;
  }

  async send(m: PasskeyMessage): Promise<void> {
    const reply = this.inbound
      ? `\nOr send this passkey from this e-mail address to ${this.inbound.address}; we will recognise it.\n`
      : '';
    const text =
      `Your card${cardEnding(m.cardN)} was reported to us and is blocked.\n\n` +
      `To confirm it is you, read this passkey to the support desk:\n\n    ${m.passkey}\n\n` +
      `It works once and until ${hhmm(m.expiresAt)}.${reply}\n` +
      'We never call you to ask for it. If you did not report your card, call your branch.\n';
    try {
      await (
        await this.client()
      ).sendMail({
        from: this.smtp.from,
        to: m.to,
        subject: 'Your card support passkey',
        text,
      });
    } catch (err) {
      throw new AppError(
        'PASSKEY_SEND_FAILED',
        `The mail server ${this.smtp.host}:${this.smtp.port} did not accept the message (${errorCode(err)}). ` +
          'Check the SMTP settings or send the passkey by SMS.',
      );
    }
  }

  close(): void {
    this.transport?.close();
  }
}

export class HttpSmsPasskeySender implements PasskeySender {
  readonly channel = 'sms' as const;

  constructor(private readonly gateway: SmsGatewaySettings) {}

  async send(m: PasskeyMessage): Promise<void> {
    const text = `Card support passkey ${m.passkey}, valid until ${hhmm(m.expiresAt)}. Read it to the desk. We never call to ask for it.`;
    let status: number;
    try {
      const r = await fetch(this.gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.gateway.token}` },
        body: JSON.stringify({ to: m.to, text }),
        signal: AbortSignal.timeout(15_000),
      });
      status = r.status;
      await r.body?.cancel();
    } catch (err) {
      throw new AppError(
        'PASSKEY_SEND_FAILED',
        `The SMS gateway did not answer (${errorCode(err)}). Check OTAC_SMS_GATEWAY_URL or send the passkey by e-mail.`,
      );
    }
    if (status < 200 || status >= 300)
      throw new AppError(
        'PASSKEY_SEND_FAILED',
        `The SMS gateway refused the message (HTTP ${status}). Check its token (OTAC_SMS_GATEWAY_TOKEN) or send by e-mail.`,
      );
  }
}

/** The senders the settings allow; a channel without settings is absent. */
export function passkeySenders(s: SupportOptions): { email: PasskeySender | null; sms: PasskeySender | null } {
  return {
    email: s.smtp ? new SmtpPasskeySender(s.smtp, s.inbound) : null,
    sms: s.sms ? new HttpSmsPasskeySender(s.sms) : null,
  };
}

// An error's code or name only: a transport's message may quote what it tried to send.
function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code.slice(0, 40);
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string') return name.slice(0, 40);
  }
  return 'error';
}
