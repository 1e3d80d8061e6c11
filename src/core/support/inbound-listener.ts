import type { SMTPServer } from 'smtp-server';
import type { Logger } from '../log';
import { parseInboundMessage } from './inbound-message';
import type { InboundMailSettings } from './support-settings';

// Claim 3's "predefined destination address": an SMTP listener the workstation runs when configured.
// It accepts mail for the issuer's one address only, up to 64 KiB, and hands From and text to the
// support service. In production it sits behind the bank's mail gateway, which terminates TLS and
// checks SPF, DKIM and DMARC before relaying (docs/support.md): From alone is easy to forge.

const MAX_MESSAGE = 64 * 1024;

export class InboundPasskeyListener {
  private server: SMTPServer | null = null;

  constructor(
    private readonly settings: InboundMailSettings,
    private readonly onMessage: (from: string | null, text: string) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  /** Starts listening; resolves with the port once bound. The SMTP server library is loaded only here. */
  async start(): Promise<number> {
    const { SMTPServer } = await import('smtp-server');
    const address = this.settings.address.toLowerCase();
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      size: MAX_MESSAGE,
      banner: 'OTAC card support',
      logger: false,
      onRcptTo: (rcpt, _session, callback) => {
        if (rcpt.address.toLowerCase() !== address) {
          const err = new Error('Mailbox unavailable') as Error & { responseCode: number };
          err.responseCode = 550;
          callback(err);
          return;
        }
        callback();
      },
      onData: (stream, _session, callback) => {
        const chunks: Buffer[] = [];
        let size = 0;
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_MESSAGE) chunks.push(chunk);
        });
        stream.on('end', () => {
          if (size > MAX_MESSAGE) {
            const err = new Error('Message too large') as Error & { responseCode: number };
            err.responseCode = 552;
            callback(err);
            return;
          }
          const message = parseInboundMessage(Buffer.concat(chunks).toString('utf8'));
          this.onMessage(message.from, message.text).then(
            () => callback(),
            (err: unknown) => {
              this.log.error('inbound passkey message failed', { error: err instanceof Error ? err.name : 'error' });
              const e = new Error('Try again later') as Error & { responseCode: number };
              e.responseCode = 451;
              callback(e);
            },
          );
        });
      },
    });
    server.on('error', (err: Error) => this.log.error('inbound mail listener error', { error: err.name }));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.server.once('error', onError);
      server.listen(this.settings.port, this.settings.host ?? '127.0.0.1', () => {
        server.server.off('error', onError);
        const bound = server.server.address();
        resolve(typeof bound === 'object' && bound ? bound.port : this.settings.port);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
