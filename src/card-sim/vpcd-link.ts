import net from 'node:net';
import type { CardSide } from './card-side';

/**
 * The vpcd wire protocol, card end: we connect to pcscd's vpcd driver, which then sees a
 * card in its slot. Frames both ways are a uint16 big-endian length then the payload. A
 * 1-byte frame from vpcd is control (00 power off, 01 power on, 02 reset, 04 get ATR);
 * anything else is a C-APDU answered with exactly one R-APDU. Closing the socket is
 * pulling the card out.
 */
const CTRL_POWER_OFF = 0x00;
const CTRL_POWER_ON = 0x01;
const CTRL_RESET = 0x02;
const CTRL_GET_ATR = 0x04;

export type VpcdLinkEvent =
  | { type: 'connected' }
  | { type: 'disconnected'; reason: string }
  | { type: 'power-on' | 'power-off' | 'reset' | 'atr' }
  | { type: 'apdu'; command: Buffer; response: Buffer };

export interface VpcdLinkOptions {
  port: number;
  host?: string;
  /** Delay between connection attempts while vpcd is not listening (pcscd down or restarting). */
  retryMs?: number;
  /** Hold each R-APDU back this long after the card processed the command (simulates a slow card). */
  responseDelayMs?: number;
  onEvent?: (event: VpcdLinkEvent) => void;
}

export class VpcdLink {
  private socket: net.Socket | undefined;
  private inserted = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private pending: Buffer = Buffer.alloc(0);
  /** Frames are answered strictly in order, even when responses are delayed. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly card: CardSide,
    private readonly options: VpcdLinkOptions,
  ) {}

  /** Put the card in the slot: connect now and keep reconnecting until remove(). */
  insert(): void {
    if (this.inserted) return;
    this.inserted = true;
    this.connect();
  }

  /** Pull the card out: pcscd sees the slot empty at its next presence poll (~400 ms). */
  async remove(): Promise<void> {
    this.inserted = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      // A peer that does not read any more must not keep the card "in".
      setTimeout(() => socket.destroy(), 200).unref();
    });
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed && !this.socket.connecting;
  }

  private connect(): void {
    if (!this.inserted) return;
    const socket = net.connect({ port: this.options.port, host: this.options.host ?? '127.0.0.1' });
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('connect', () => this.emit({ type: 'connected' }));
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', () => {
      // 'close' follows every error; reconnecting is handled there.
    });
    socket.on('close', (hadError) => {
      if (this.socket === socket) this.socket = undefined;
      this.emit({ type: 'disconnected', reason: hadError ? 'error' : 'closed' });
      // The card loses power when the link drops.
      this.card.powerOff();
      if (this.inserted && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.connect();
        }, this.options.retryMs ?? 200);
      }
    });
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 2) {
      const length = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + length) break;
      const frame = Buffer.from(this.pending.subarray(2, 2 + length));
      this.pending = this.pending.subarray(2 + length);
      this.queue = this.queue.then(() => this.handleFrame(socket, frame));
    }
  }

  private async handleFrame(socket: net.Socket, frame: Buffer): Promise<void> {
    if (frame.length === 1) {
      switch (frame[0]) {
        case CTRL_POWER_OFF:
          this.card.powerOff();
          this.emit({ type: 'power-off' });
          return;
        case CTRL_POWER_ON:
          this.card.powerOn();
          this.emit({ type: 'power-on' });
          return;
        case CTRL_RESET:
          this.card.reset();
          this.emit({ type: 'reset' });
          return;
        case CTRL_GET_ATR:
          this.send(socket, this.card.atr());
          this.emit({ type: 'atr' });
          return;
        default:
          break; // A 1-byte frame that is not control is a (malformed) APDU: the card answers it.
      }
    }
    const response = this.card.process(frame);
    const delay = this.options.responseDelayMs ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.send(socket, response);
    this.emit({ type: 'apdu', command: frame, response });
  }

  private send(socket: net.Socket, payload: Buffer): void {
    if (socket.destroyed) return;
    const frame = Buffer.allocUnsafe(2 + payload.length);
    frame.writeUInt16BE(payload.length, 0);
    payload.copy(frame, 2);
    // One write per frame: with TCP_NODELAY a split header would cost a packet of its own.
    socket.write(frame);
  }

  private emit(event: VpcdLinkEvent): void {
    this.options.onEvent?.(event);
  }
}
