import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../src/core/db/database';
import { migrations } from '../../../src/core/db/migrations';
import { SqliteSupportCaseRepository } from '../../../src/core/support/support-case.repository';

// Migration 0024: passkeys sent per support case. Open cases start with the full allowance; a send
// takes its slot under the limit before it goes out (given back if the transport refused it), and the
// identity procedure takes a case whose passkeys are used up only once none of them is still valid.

describe('migration 0024: passkeys sent per support case', () => {
  const at = '2026-01-01T10:00:00.000Z';
  const later = '2026-01-01T10:30:00.000Z';
  const expires = '2026-01-01T10:15:00.000Z';
  const tag = 'ab'.repeat(16);

  it('starts open cases at 0, refuses a negative count, and holds the limit and the procedure in the UPDATE', async () => {
    const db = new BetterSqlite3(':memory:');
    migrate(
      db,
      migrations.filter((m) => m.version < 24),
    );
    db.prepare(
      `INSERT INTO customers (id, customer_ref, full_name, name_key, address_line1, postal_code, city, country, branch,
         created_at, created_by, updated_at) VALUES (1, 'C1', 'A', 'a', 'l1', '1', 'c', 'x', 'b', 't', 'u', 't')`,
    ).run();
    db.prepare(
      `INSERT INTO cards (id, card_id, customer_id, n, state, enrolled_at, enrolled_by, state_changed_at)
       VALUES (1, 'AA01', 1, 'N-1', 'blocked', 't', 'u', 't')`,
    ).run();
    db.prepare(
      `INSERT INTO support_cases (id, card_ref, customer_ref, reason, state, card_state_before, opened_at, opened_by,
         state_changed_at, passkey_serial) VALUES (1, 1, 1, 'lost', 'reported', 'active', 't', 'u', 't', 7)`,
    ).run();
    migrate(db, migrations);
    expect(db.prepare('SELECT passkey_serial, passkey_sends FROM support_cases').get()).toEqual({
      passkey_serial: 7,
      passkey_sends: 0,
    });
    expect(() => db.prepare('UPDATE support_cases SET passkey_sends = -1').run()).toThrow(/CHECK constraint/);

    const repo = new SqliteSupportCaseRepository(db);
    // A send: its slot first (under the limit), then its record (after the serial before it).
    const send = async (serial: number, maxSends: number) =>
      (await repo.reservePasskeySend(1, maxSends)) &&
      repo.recordPasskey(1, { serial, tag, channel: 'sms', sentAt: at, expiresAt: expires });
    expect(await send(8, 2)).toMatchObject({ passkeySerial: 8, passkeySends: 1 });
    expect(await send(9, 2)).toMatchObject({ passkeySerial: 9, passkeySends: 2 });
    const full = await repo.byId(1);
    // No third slot: nothing changed.
    expect(await repo.reservePasskeySend(1, 2)).toBeNull();
    expect(await repo.byId(1)).toEqual(full);
    // A slot given back (the transport refused the message) is taken again.
    expect(await repo.reservePasskeySend(1, 3)).toMatchObject({ passkeySends: 3 });
    await repo.releasePasskeySend(1);
    expect(await repo.byId(1)).toEqual(full);
    const identity = { documentType: 'passport', documentRef: 'X1', checkedBy: 'mia', approvedBy: 'max', maxSends: 2 };
    // The last passkey still valid: no procedure; a higher limit: not used up either.
    expect(await repo.recordIdentityProcedure(1, identity, at)).toBeNull();
    expect(await repo.recordIdentityProcedure(1, { ...identity, maxSends: 3 }, later)).toBeNull();
    expect(await repo.byId(1)).toEqual(full);
    // Expired and used up: the procedure gives the allowance back, the serial goes on.
    expect(await repo.recordIdentityProcedure(1, identity, later)).toMatchObject({
      state: 'reported',
      passkeySends: 0,
      passkeySerial: 9,
      passkeyTag: null,
    });
    await repo.releasePasskeySend(1); // never below 0
    expect((await repo.byId(1))?.passkeySends).toBe(0);
    expect(await send(10, 2)).toMatchObject({ passkeySerial: 10, passkeySends: 1 });
  });
});
