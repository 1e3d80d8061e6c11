import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DOMAIN_READ_CHANNEL, visibleTo } from '../../../src/core/rpc/event-feed';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { freshWorkstation } from '../../support/fresh-workstation';
import { startLoopbackServer, type LoopbackServer } from '../../../src/host/loopback-server';
import { contract, type ReaderSnapshot } from '../../../src/shared/contract';
import { ROLES } from '../../../src/shared/roles';
import { http, openEventStream, type EventStream } from '../../support/http';
import { addOperator, setupOfficer, type TestOperator } from '../../support/operators';

// /events used to stream reader and data events to any cookie holder, signed in or not. Now a
// client receives nothing until it signs in, then only what its role may read, and events meant
// for one client (its session ended) reach that client alone.

const READER: ReaderSnapshot = { service: 'running', readers: [{ name: 'Reader 0', cardPresent: true, atr: '3b00' }] };

describe('event stream', () => {
  let dir: string;
  let ws: DeskWorkstation;
  let desk: Awaited<ReturnType<typeof freshWorkstation>> | undefined;
  let server: LoopbackServer;
  let officer: TestOperator;
  let clerk: TestOperator;
  const streams: EventStream[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otac-events-'));
    const renderer = join(dir, 'renderer');
    mkdirSync(renderer);
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>ui</title>');
    desk = await freshWorkstation();
    ws = desk.ws;
    server = await startLoopbackServer(ws, { rendererDir: renderer });
    officer = await setupOfficer(ws);
    clerk = await addOperator(ws, 'clerk');
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await server?.close();
    await desk?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  interface Client {
    cookie: string;
    client: string;
    stream: EventStream;
    cursor: number;
  }
  async function connect(): Promise<Client> {
    const start = await http(server.launchUrl());
    const cookie = String(start.headers['set-cookie']).split(';')[0]!;
    const stream = await openEventStream(server.origin, cookie);
    streams.push(stream);
    return { cookie, client: `web-${cookie.split('=')[1]}`, stream, cursor: 0 };
  }
  /**
   * What the client received since the last call. No sleeps: a marker addressed to this client
   * follows everything emitted so far down the same stream, so once it arrives nothing is in flight.
   */
  async function received(c: Client): Promise<Array<{ name: string; payload: unknown }>> {
    const marker = { name: 'session:ended', payload: { reason: 'signed-out' } };
    ws.events.emitTo(c.client, 'session:ended', { reason: 'signed-out' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const at = c.stream.events.findIndex((e, i) => i >= c.cursor && JSON.stringify(e) === JSON.stringify(marker));
      if (at >= 0) {
        const got = c.stream.events.slice(c.cursor, at);
        c.cursor = at + 1;
        return got;
      }
      if (Date.now() > deadline) throw new Error(`no marker; saw ${JSON.stringify(c.stream.events.slice(c.cursor))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const rpc = (cookie: string, channel: string, payload: unknown) =>
    http(`${server.origin}/rpc`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: cookie, Origin: server.origin },
      body: JSON.stringify({ channel, payload }),
    });
  const signIn = async (cookie: string, op: TestOperator) =>
    expect(
      JSON.parse((await rpc(cookie, 'auth:signIn', { username: op.username, password: op.password })).body),
    ).toMatchObject({ ok: true });

  it('gives a connected client without a session nothing, not even the current reader state', async () => {
    ws.events.emit('reader:changed', READER);
    const anon = await connect();
    ws.events.emit('reader:changed', READER);
    ws.events.emit('data:changed', { domains: ['operators', 'policy', 'keys'] });
    expect(anon.stream.status).toBe(200);
    expect(await received(anon)).toEqual([]);
  });

  it('sends the current state once the client signs in, then only what its role may read', async () => {
    const asClerk = await connect();
    const asOfficer = await connect();
    expect(await received(asClerk)).toEqual([]);
    await signIn(asClerk.cookie, clerk);
    await signIn(asOfficer.cookie, officer);
    // The latest of each event from before the sign-in, delivered at the sign-in, as each role may see it.
    expect(await received(asClerk)).toEqual([
      { name: 'reader:changed', payload: READER },
      { name: 'data:changed', payload: { domains: ['policy'] } },
    ]);
    expect(await received(asOfficer)).toEqual([
      { name: 'reader:changed', payload: READER },
      { name: 'data:changed', payload: { domains: ['operators', 'policy', 'keys'] } },
    ]);

    ws.events.emit('data:changed', { domains: ['operators', 'policy', 'keys'] });
    ws.events.emit('data:changed', { domains: ['keys'] });
    expect(await received(asClerk)).toEqual([{ name: 'data:changed', payload: { domains: ['policy'] } }]);
    expect(await received(asOfficer)).toEqual([
      { name: 'data:changed', payload: { domains: ['operators', 'policy', 'keys'] } },
      { name: 'data:changed', payload: { domains: ['keys'] } },
    ]);
  });

  it('stops at sign-out', async () => {
    const c = await connect();
    await signIn(c.cookie, clerk);
    expect(await received(c)).toContainEqual({ name: 'reader:changed', payload: READER }); // the current state
    expect(JSON.parse((await rpc(c.cookie, 'auth:signOut', {})).body)).toMatchObject({ ok: true });
    ws.events.emit('reader:changed', READER);
    ws.events.emit('data:changed', { domains: ['policy'] });
    expect(await received(c)).toEqual([]);
  });

  it('sends session:ended to its own client only, and never as a broadcast', async () => {
    const a = await connect();
    const b = await connect();
    await signIn(a.cookie, clerk);
    await signIn(b.cookie, officer);
    await received(a);
    await received(b);
    ws.events.emitTo(a.client, 'session:ended', { reason: 'timeout' });
    ws.events.emit('session:ended', { reason: 'disabled' });
    expect(await received(a)).toEqual([{ name: 'session:ended', payload: { reason: 'timeout' } }]);
    expect(await received(b)).toEqual([]);
  });

  it('decides each role by the access rule of the channel that reads the same data', () => {
    for (const role of ROLES) {
      for (const [domain, channel] of Object.entries(DATA_DOMAIN_READ_CHANNEL)) {
        const access = contract[channel].access;
        const may = access === 'signed-in' || (access !== 'public' && access.includes(role));
        expect(visibleTo(role, 'data:changed', { domains: [domain] }), `${role} ${domain}`).toEqual(
          may ? { domains: [domain] } : null,
        );
      }
      expect(visibleTo(role, 'data:changed', { domains: ['something-new'] })).toBeNull();
      expect(visibleTo(role, 'session:ended', { reason: 'timeout' })).toBeNull();
    }
  });
});
