import { AppError } from '../errors';

// Where the out-of-band passkey goes and where the customer's reply comes in (docs/support.md
// "Settings"). Given by the shell through WorkstationOptions.support, else read from the environment.
// A channel without its settings is simply not offered; using it is refused with what to configure.

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  /** implicit: TLS from the first byte (465); starttls: upgrade required (587); none: loopback only (tests, a local relay). */
  readonly tls: 'implicit' | 'starttls' | 'none';
  readonly user?: string;
  readonly password?: string;
  /** The issuer's sender address, e.g. "OTAC Card Support <cards@bank.example>". */
  readonly from: string;
}

export interface SmsGatewaySettings {
  /** The gateway's HTTPS endpoint; it receives POST {"to": "+…", "text": "…"} as JSON. */
  readonly url: string;
  /** Sent as "Authorization: Bearer <token>". */
  readonly token: string;
}

export interface InboundMailSettings {
  /** The predefined issuer address the customer sends the passkey to (claim 3); other recipients are refused. */
  readonly address: string;
  readonly port: number;
  /** Listen address; loopback by default (the bank's mail gateway relays to it). */
  readonly host?: string;
}

export interface SupportOptions {
  readonly smtp?: SmtpSettings;
  readonly sms?: SmsGatewaySettings;
  readonly inbound?: InboundMailSettings;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host.toLowerCase());
}

function port(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw new AppError('SUPPORT_CONFIG', `${name} must be a port number (1–65535), not "${value.slice(0, 20)}".`);
  return n;
}

/** The settings from OTAC_SMTP_*, OTAC_SMS_GATEWAY_*, OTAC_INBOUND_*; absent groups stay absent. */
export function supportSettingsFromEnv(env: NodeJS.ProcessEnv): SupportOptions {
  const out: { smtp?: SmtpSettings; sms?: SmsGatewaySettings; inbound?: InboundMailSettings } = {};
  const host = env['OTAC_SMTP_HOST'];
  if (host) {
    const tls = env['OTAC_SMTP_TLS'] ?? 'starttls';
    if (tls !== 'implicit' && tls !== 'starttls' && tls !== 'none')
      throw new AppError('SUPPORT_CONFIG', 'OTAC_SMTP_TLS must be "implicit", "starttls" or "none" (loopback only).');
    const from = env['OTAC_MAIL_FROM'];
    if (!from)
      throw new AppError('SUPPORT_CONFIG', 'OTAC_SMTP_HOST is set: set OTAC_MAIL_FROM (the sender address) too.');
    out.smtp = {
      host,
      port: port(env['OTAC_SMTP_PORT'] ?? (tls === 'implicit' ? '465' : '587'), 'OTAC_SMTP_PORT'),
      tls,
      from,
      ...(env['OTAC_SMTP_USER'] ? { user: env['OTAC_SMTP_USER'] } : {}),
      ...(env['OTAC_SMTP_PASSWORD'] ? { password: env['OTAC_SMTP_PASSWORD'] } : {}),
    };
  }
  const url = env['OTAC_SMS_GATEWAY_URL'];
  if (url) {
    const token = env['OTAC_SMS_GATEWAY_TOKEN'];
    if (!token) throw new AppError('SUPPORT_CONFIG', 'OTAC_SMS_GATEWAY_URL is set: set OTAC_SMS_GATEWAY_TOKEN too.');
    out.sms = { url, token };
  }
  const address = env['OTAC_INBOUND_ADDRESS'];
  if (address) {
    out.inbound = {
      address,
      port: port(env['OTAC_INBOUND_SMTP_PORT'] ?? '2525', 'OTAC_INBOUND_SMTP_PORT'),
      host: env['OTAC_INBOUND_SMTP_HOST'] ?? '127.0.0.1',
    };
  }
  return out;
}

/** Refuses settings that would send a passkey in clear over a network, or to a gateway without TLS. */
export function checkSupportSettings(s: SupportOptions): void {
  if (s.smtp && s.smtp.tls === 'none' && !isLoopback(s.smtp.host))
    throw new AppError(
      'SUPPORT_CONFIG',
      `SMTP without TLS is allowed only to a relay on this machine, not to ${s.smtp.host.slice(0, 80)}. Set OTAC_SMTP_TLS to starttls or implicit.`,
    );
  if (s.sms) {
    let u: URL;
    try {
      u = new URL(s.sms.url);
    } catch {
      throw new AppError('SUPPORT_CONFIG', 'The SMS gateway URL is not a URL. Check OTAC_SMS_GATEWAY_URL.');
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname.replace(/^\[|\]$/g, ''))))
      throw new AppError('SUPPORT_CONFIG', 'The SMS gateway must be reached over https (plain http only on loopback).');
  }
}
