import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { VpcdLink } from '../../../src/card-sim/vpcd-link';
import { ECHO_AID, ECHO_ATR, EchoCard } from '../../support/echo-card';

/** A stand-in for pcscd's vpcd driver: listens, accepts one card, speaks length-prefixed frames. */
class FakeVpcd {
  private server = net.createServer();
  socket: net.Socket | undefined;
  private buffered = Buffer.alloc(0);
  private waiters: Array<(frame: Buffer) => void> = [];
  accepted = 0;

  async listen(port = 0): Promise<number> {
    this.server.on('connection', (socket) => {
      this.accepted += 1;
      this.socket = socket;
      this.buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        this.buffered = Buffer.concat([this.buffered, chunk]);
        while (this.buffered.length >= 2 && this.buffered.length >= 2 + this.buffered.readUInt16BE(0)) {
          const len = this.buffered.readUInt16BE(0);
          const frame = this.buffered.subarray(2, 2 + len);
          this.buffered = this.buffered.subarray(2 + len);
          this.waiters.shift()?.(Buffer.from(frame));
        }
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async connected(): Promise<net.Socket> {
    for (let i = 0; i < 200 && !this.socket; i++) await new Promise((r) => setTimeout(r, 10));
    if (!this.socket) throw new Error('card never connected');
    return this.socket;
  }

  /** Send one frame; resolves with the reply, or undefined after `waitMs` if none comes. */
  async exchange(payload: Buffer, waitMs = 1000): Promise<Buffer | undefined> {
    const socket = await this.connected();
    const header = Buffer.alloc(2);
    header.writeUInt16BE(payload.length);
    // Split header and payload into two writes, as Debian's vpcd does.
    socket.write(header);
    socket.write(payload);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.shift();
        resolve(undefined);
      }, waitMs);
      this.waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  dropClient(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  async close(): Promise<void> {
    this.dropClient();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('VpcdLink', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function setUp(
    card = new EchoCard(),
  ): Promise<{ vpcd: FakeVpcd; link: VpcdLink; card: EchoCard; port: number }> {
    const vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    const link = new VpcdLink(card, { port, retryMs: 20 });
    cleanups.push(async () => {
      await link.remove();
      await vpcd.close();
    });
    link.insert();
    await vpcd.connected();
    return { vpcd, link, card, port };
  }

  it('answers get-ATR with the ATR and APDUs with exactly one R-APDU', async () => {
    const { vpcd } = await setUp();
    expect(await vpcd.exchange(Buffer.from([0x04]))).toEqual(ECHO_ATR);
    const select = Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, ECHO_AID.length]), ECHO_AID]);
    expect(await vpcd.exchange(select)).toEqual(Buffer.from('9000', 'hex'));
    expect(await vpcd.exchange(Buffer.from('00EE000003AABBCC', 'hex'))).toEqual(Buffer.from('AABBCC9000', 'hex'));
  });

  it('treats power on, power off and reset as control frames with no reply', async () => {
    const { vpcd, card } = await setUp();
    expect(await vpcd.exchange(Buffer.from([0x01]), 100)).toBeUndefined();
    expect(await vpcd.exchange(Buffer.from([0x02]), 100)).toBeUndefined();
    expect(await vpcd.exchange(Buffer.from([0x00]), 100)).toBeUndefined();
    expect(card.powerOns).toBe(1);
    expect(card.resets).toBe(1);
  });

  it('carries an extended APDU larger than one TCP segment', async () => {
    const { vpcd } = await setUp();
    const select = Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, ECHO_AID.length]), ECHO_AID]);
    await vpcd.exchange(select);
    const data = Buffer.alloc(60_000, 0x5a);
    const header = Buffer.from([0x00, 0xee, 0x00, 0x00, 0x00, data.length >> 8, data.length & 0xff]);
    const reply = await vpcd.exchange(Buffer.concat([header, data]));
    expect(reply?.length).toBe(60_002);
    expect(reply?.subarray(0, 60_000).equals(data)).toBe(true);
  });

  it('reconnects after vpcd drops the link while the card is inserted, and not after remove()', async () => {
    const { vpcd, link } = await setUp();
    vpcd.dropClient();
    await vpcd.connected();
    expect(vpcd.accepted).toBe(2);
    await link.remove();
    await new Promise((r) => setTimeout(r, 100));
    expect(vpcd.accepted).toBe(2);
    expect(link.connected).toBe(false);
  });

  it('keeps trying while nothing listens (pcscd down) and connects once vpcd is back', async () => {
    const probe = new FakeVpcd();
    const port = await probe.listen();
    await probe.close();
    const link = new VpcdLink(new EchoCard(), { port, retryMs: 20 });
    link.insert();
    await new Promise((r) => setTimeout(r, 150));
    const vpcd = new FakeVpcd();
    await vpcd.listen(port);
    cleanups.push(async () => {
      await link.remove();
      await vpcd.close();
    });
    expect(await vpcd.exchange(Buffer.from([0x04]))).toEqual(ECHO_ATR);
  });
});
