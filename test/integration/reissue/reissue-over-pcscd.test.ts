import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardReaderService } from '../../../src/core/card/reader.types';
import type { CardRecord } from '../../../src/core/cards/card.repository';
import { MAILER_ALPHABET } from '../../../src/core/crypto/mailer-key-format';
import type { DeskWorkstation } from '../../../src/core/workstation';
import type { Result } from '../../../src/shared/contract';
import {
  CHEAP_SCRYPT,
  dispatchWhenFree,
  nextCodeIn,
  personaliseAwaiting,
  prepareKeystore,
} from '../../support/activation-cards';
import { OFFICER, restartableWorkstation, type RestartableDesk } from '../../support/fresh-workstation';
import { KEYSTORE_PASSPHRASE } from '../../support/keys';
import { pdfText, testMailer } from '../../support/mailer';
import {
  addOperator,
  approvalFor,
  auditRows,
  OFFICER_CLIENT,
  setupOfficer,
  value,
  type TestOperator,
} from '../../support/operators';
import { TestReissueGate } from '../../support/reissue-gate';
import { customerRow } from '../../support/cards';
import { createTestCard, readCard, type TestCard } from '../../support/test-cards';
import { eventually, useTestbed, type Testbed } from '../../support/testbed';
import { call as httpCall } from '../../support/verify-service';
import { startServiceOn } from '../../support/desk-service';

// Reissue through the whole stack (issue 11 item 3; docs/reissue.md): the contract, ReissueService,
// the enrollment service, the keystore, pcsclite → pcscd → vpcd → virtual card processes. The support
// case is a TEST gate (the case service is on another branch). A card reported lost is replaced by a
// blank card enrolled for the same customer with a fresh N; the old table's remaining codes become
// the new card's first list; the old card's codes are refused by core verify and by the HTTP
// service with a suspicion raised; the old card, presented at the desk, is terminated on the card.

const C = `[${MAILER_ALPHABET}]`;
const KEY_FORMAT = new RegExp(`${C}{5}(?:-${C}{5}){6}`);
const PIN = '4711';
const USED = 3;

describe('reissue of a lost card (real pcscd + vpcd)', () => {
  let bed: Testbed;
  let t: RestartableDesk;
  let ws: DeskWorkstation;
  const gate = new TestReissueGate();
  const mailer = testMailer();
  let clerk: TestOperator;
  let manager: TestOperator;
  let manager2: TestOperator;
  let support: TestOperator;
  let support2: TestOperator;
  let oldCard: CardRecord;
  let oldFile: TestCard;
  let blanks: TestCard[];
  let stolenCode: string;
  let caseId: number;
  let newCard: CardRecord;
  let newReader: string;
  let sheetCodes: string[] = [];
  let sheetList = 0;

  const readers = () => ws.readers as CardReaderService;
  const reader = (slot: number) => bed.readerName(slot);
  const cards = () => t.sql.repos.cards;
  const call = (op: TestOperator, channel: string, input: unknown): Promise<Result<unknown>> =>
    dispatchWhenFree(ws, op, channel, input);
  const snapshot = async () =>
    JSON.stringify([
      await t.sql.all('SELECT * FROM cards ORDER BY id'),
      await t.sql.all('SELECT * FROM code_lists ORDER BY id'),
      await t.sql.all('SELECT * FROM card_reissues ORDER BY id'),
      await t.sql.all('SELECT * FROM card_key_series ORDER BY n, sn'),
    ]);
  const cardsOf = (customerId: number) =>
    t.sql.all<{ id: number; card_id: string; n: string; state: string }>(
      'SELECT id, card_id, n, state FROM cards WHERE customer_id = ? ORDER BY id',
      customerId,
    );
  const listsOf = (cardRef: number) =>
    t.sql.all<{ id: number; seq: number; state: string; length: number; trigger: string }>(
      'SELECT id, seq, state, length, queued_by_trigger AS trigger FROM code_lists WHERE card_ref = ? ORDER BY seq',
      cardRef,
    );
  const present = async (file: TestCard, slot: number) => {
    await bed.remove(slot);
    await eventually(
      () =>
        !readers()
          .snapshot()
          .readers.some((r) => r.name === reader(slot) && r.cardPresent),
      'slot empty',
    );
    await bed.insert(file.file, slot);
    await eventually(
      () =>
        readers()
          .snapshot()
          .readers.some((r) => r.name === reader(slot) && r.cardPresent),
      'card present',
      10_000,
    );
  };
  /** What the support case's report does (issue 11 item 1, another branch): card blocked, table disabled. */
  const report = async (card: CardRecord) => {
    await cards().transition(card.id, [card.state], 'blocked', new Date().toISOString());
    const active = (await listsOf(card.id)).find((l) => l.state === 'active');
    if (active)
      await ws.lists.disable(
        active.id,
        { operatorId: support.id, operator: support.username, role: 'support' },
        'reported lost',
      );
  };

  beforeAll(async () => {
    bed = await useTestbed('reissue');
    t = await restartableWorkstation({
      readers: 'pcsc',
      keystoreScryptCost: CHEAP_SCRYPT,
      mailer,
      reissueGate: gate,
    });
    ws = t.ws;
    const officer = await setupOfficer(ws);
    await prepareKeystore(ws, officer, await addOperator(ws, 'security_officer'));
    clerk = await addOperator(ws, 'clerk');
    manager = await addOperator(ws, 'manager');
    manager2 = await addOperator(ws, 'manager');
    support = await addOperator(ws, 'support');
    support2 = await addOperator(ws, 'support');
    await eventually(() => readers().snapshot().readers.length === 2, 'both vpcd readers', 10_000);

    // The customer's card: enrolled, activated (list 1 pushed), three codes used, a fourth read off
    // the card and never typed — the one a thief would try after the card is reported.
    oldFile = createTestCard(bed.cardDir);
    await present(oldFile, 0);
    const awaiting = await personaliseAwaiting(ws, reader(0));
    value(
      await call(clerk, 'activation:activate', {
        reader: reader(0),
        key: awaiting.mailerKey,
        pin: PIN,
        pinRepeat: PIN,
      }),
    );
    for (let i = 1; i <= USED; i++) {
      const code = await nextCodeIn(readers(), reader(0), PIN);
      expect(await ws.verification.verify(awaiting.record.n, code.code, code.index)).toMatchObject({ accepted: true });
    }
    stolenCode = (await nextCodeIn(readers(), reader(0), PIN)).code;
    oldCard = (await cards().byId(awaiting.record.id))!;
    await report(oldCard);
    blanks = [createTestCard(bed.cardDir), createTestCard(bed.cardDir)];
    await present(blanks[0]!, 0);
    await present(blanks[1]!, 1);
  }, 180_000);

  afterAll(async () => {
    await t?.dispose();
    await bed?.close();
  });

  it('refuses a case the gate does not call verified: nothing changed on the cards or in the database', async () => {
    const refused = gate.refused(oldCard.customerId, oldCard.id);
    // A case naming another customer's card (a confused or forged case) is refused as well.
    const stranger = await customerRow(t.sql.repos, { fullName: 'Mallory Stranger' });
    const mismatched = gate.verified(stranger.id, oldCard.id);
    const before = await snapshot();
    const chips = blanks.map((b) => readCard(b));
    for (const id of [refused, 999]) {
      const r = await call(support, 'reissue:reissue', { caseId: id, reader: reader(0) });
      expect(r).toMatchObject({ ok: false, error: { code: 'CASE_NOT_VERIFIED' } });
    }
    expect(await call(support, 'reissue:reissue', { caseId: mismatched, reader: reader(0) })).toMatchObject({
      ok: false,
      error: { code: 'REISSUE_CASE_MISMATCH' },
    });
    expect(await snapshot()).toBe(before);
    expect(blanks.map((b) => readCard(b))).toEqual(chips);
    expect(chips.every((c) => c.lifeCycle === 'blank')).toBe(true);
    expect((await auditRows(ws)).filter((a) => a.action === 'reissue.refused')).toHaveLength(3);
    // A clerk may not reissue at all.
    expect(await call(clerk, 'reissue:reissue', { caseId: refused, reader: reader(0) })).toMatchObject({ ok: false });
  });

  it('two concurrent reissues of one case on two readers make exactly one new card, with a fresh N and the carried quota', async () => {
    caseId = gate.verified(oldCard.customerId, oldCard.id);
    const results = await Promise.all([
      call(support, 'reissue:reissue', { caseId, reader: reader(0) }),
      call(support2, 'reissue:reissue', { caseId, reader: reader(1) }),
    ]);
    const won = results.filter((r) => r.ok);
    expect(won).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, error: { code: 'REISSUE_DONE' } });
    const result = value(won[0]!) as { newN: string; newCardId: string; carriedCodes: number; resumed: boolean };

    const mine = await cardsOf(oldCard.customerId);
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ id: oldCard.id, state: 'blocked' });
    expect(mine[1]).toMatchObject({ n: result.newN, card_id: result.newCardId, state: 'awaiting_activation' });
    expect(result.newN).not.toBe(oldCard.n);
    expect(result.carriedCodes).toBe(100 - USED);
    newCard = (await cards().byCardId(result.newCardId))!;
    const slot = readCard(blanks[0]!).cardId.toUpperCase() === result.newCardId ? 0 : 1;
    newReader = reader(slot);
    // The card chosen holds the new N; the other blank card was never touched.
    expect(readCard(blanks[slot]!)).toMatchObject({ lifeCycle: 'personalised', n: result.newN });
    expect(readCard(blanks[1 - slot]!).lifeCycle).toBe('blank');
    // The carried list waits for activation; the old table is disabled; the case is marked.
    expect(await listsOf(newCard.id)).toEqual([
      expect.objectContaining({ seq: 1, state: 'prepared', length: 97, trigger: 'first' }),
    ]);
    expect((await listsOf(oldCard.id)).map((l) => l.state)).toEqual(['disabled']);
    expect(gate.stateOf(caseId)).toEqual(expect.objectContaining({ state: 'reissued', newCardId: newCard.id }));
    expect(value(await call(support, 'reissue:status', { caseId }))).toMatchObject({
      state: 'done',
      newN: result.newN,
      carriedCodes: 97,
      oldCardTerminated: false,
    });
    const actions = (await auditRows(ws)).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['reissue.started', 'enrollment.completed', 'reissue.completed']));
    // A second case for the same card is refused before any card is touched.
    const again = gate.verified(oldCard.customerId, oldCard.id);
    const before = await snapshot();
    expect(await call(support, 'reissue:reissue', { caseId: again, reader: reader(1 - slot) })).toMatchObject({
      ok: false,
      error: { code: 'REISSUE_CARD_REPLACED' },
    });
    expect(await snapshot()).toBe(before);
    expect(readCard(blanks[1 - slot]!).lifeCycle).toBe('blank');
  });

  it('prints an emergency sheet once, under dual control; its codes verify with the new N while the card is in the post', async () => {
    const printed = () => mailer.printer.jobs.length;
    const before = await snapshot();
    const jobs = printed();
    // No approval, an approval for another action, a support operator: nothing printed, nothing changed.
    expect(await call(manager, 'reissue:printEmergencySheet', { caseId })).toMatchObject({
      ok: false,
      error: { code: 'APPROVAL_REQUIRED' },
    });
    expect(
      await call(manager, 'reissue:printEmergencySheet', {
        caseId,
        approval: await approvalFor(ws, manager, 'mailer.reprint', manager2),
      }),
    ).toMatchObject({ ok: false });
    expect(await call(support, 'reissue:printEmergencySheet', { caseId })).toMatchObject({ ok: false });
    expect(printed()).toBe(jobs);
    expect(await snapshot()).toBe(before);
    // Before a sheet is printed, the card in the post accepts nothing.
    expect(await ws.verification.verify(newCard.n, '123456')).toEqual({ accepted: false, reason: 'card_not_active' });

    // A jammed printer: the sheet's list is withdrawn, the next print makes a new one.
    mailer.printer.failNext = 1;
    const approval = () => approvalFor(ws, manager, 'mailer.print', manager2);
    expect(await call(manager, 'reissue:printEmergencySheet', { caseId, approval: await approval() })).toMatchObject({
      ok: false,
    });
    expect((await listsOf(newCard.id)).filter((l) => l.state === 'superseded')).toHaveLength(1);
    // Two managers at once, each with an approval: one sheet reaches the printer, the other is refused.
    const both = await Promise.all([
      call(manager, 'reissue:printEmergencySheet', { caseId, approval: await approval() }),
      call(manager2, 'reissue:printEmergencySheet', {
        caseId,
        approval: await approvalFor(ws, manager2, 'mailer.print', manager),
      }),
    ]);
    expect(both.filter((r) => r.ok)).toHaveLength(1);
    expect(both.find((r) => !r.ok)).toMatchObject({ error: { code: 'EMERGENCY_ALREADY_PRINTED' } });
    const sheet = value(both.find((r) => r.ok)!) as { n: string; length: number; approvedBy: string };
    expect(sheet).toMatchObject({ n: newCard.n, length: 10 });
    expect([manager.username, manager2.username]).toContain(sheet.approvedBy);
    expect(printed()).toBe(jobs + 1);
    const text = pdfText(mailer.printer.jobs.at(-1)!.pdf);
    sheetCodes = [...text.matchAll(/^\s*(\d{1,2})\s+(\d{6})\s*$/gm)].map((m) => m[2]!);
    expect(sheetCodes).toHaveLength(10);
    sheetList = (await listsOf(newCard.id)).find((l) => l.state === 'active')!.id;
    // The codes live only on paper: not in the database's list rows nor in the audit trail.
    const everything = JSON.stringify([await t.sql.all('SELECT * FROM code_lists'), await auditRows(ws)]);
    for (const code of sheetCodes) expect(everything).not.toContain(code);

    expect(await ws.verification.verify(newCard.n, sheetCodes[0]!)).toMatchObject({ accepted: true, index: 1 });
    expect(await ws.verification.verify(newCard.n, sheetCodes[0]!)).toMatchObject({
      accepted: false,
      reason: 'already_used',
    });
    expect(await ws.verification.verify(newCard.n, sheetCodes[1]!)).toMatchObject({ accepted: true, index: 2 });
    // The old N with a sheet code: refused (the old card is dead).
    expect(await ws.verification.verify(oldCard.n, sheetCodes[2]!)).toMatchObject({
      accepted: false,
      reason: 'card_blocked',
    });
    // Printed once only.
    expect(await call(manager, 'reissue:printEmergencySheet', { caseId, approval: await approval() })).toMatchObject({
      ok: false,
      error: { code: 'EMERGENCY_ALREADY_PRINTED' },
    });
    // The carried list still waits for the card; the sheet's list is the card's only active one.
    expect((await listsOf(newCard.id)).map((l) => l.state)).toEqual(['prepared', 'superseded', 'active']);
  });

  it("prints the new card's K/N mailer under dual control; activation loads the carried quota onto the card", async () => {
    const queue = value(await call(manager, 'mailer:queue', {})) as { entries: { cardRef: number; mailer: string }[] };
    expect(queue.entries).toContainEqual(expect.objectContaining({ cardRef: newCard.id, mailer: 'to-print' }));
    const jobs = mailer.printer.jobs.length;
    expect(await call(manager, 'mailer:print', { cardRef: newCard.id })).toMatchObject({ ok: false });
    expect(mailer.printer.jobs).toHaveLength(jobs);
    value(
      await call(manager, 'mailer:print', {
        cardRef: newCard.id,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    const letter = pdfText(mailer.printer.jobs.at(-1)!.pdf);
    expect(letter).toContain(newCard.n.slice(0, 4));
    const key = KEY_FORMAT.exec(letter)?.[0] ?? '';

    const activated = value(
      await call(clerk, 'activation:activate', { reader: newReader, key, pin: PIN, pinRepeat: PIN }),
    ) as { followUps: { name: string; ok: boolean }[] };
    expect(activated.followUps).toEqual([expect.objectContaining({ name: 'first list', ok: true })]);
    // The carried list (seq 1) is the card's list now; both sheet lists (the jammed one, the printed one) are superseded.
    expect(await listsOf(newCard.id)).toEqual([
      expect.objectContaining({ seq: 1, state: 'active', length: 97 }),
      expect.objectContaining({ seq: 2, state: 'superseded' }),
      expect.objectContaining({ seq: 3, state: 'superseded' }),
    ]);
    const first = await nextCodeIn(readers(), newReader, PIN);
    expect(first).toMatchObject({ index: 1, remaining: 96 });
    expect(await ws.verification.verify(newCard.n, first.code)).toMatchObject({
      accepted: true,
      index: 1,
      remaining: 96,
    });
    // The emergency sheet died with the activation: its next code is refused, and its list is superseded.
    expect(await ws.verification.verify(newCard.n, sheetCodes[2]!)).toMatchObject({ accepted: false });
    expect((await listsOf(newCard.id)).find((l) => l.id === sheetList)?.state).toBe('superseded');
  });

  it("refuses the old card's codes in core verify and the HTTP service, and raises a suspicion each time", async () => {
    const suspicions = () =>
      t.sql.all<{ kind: string; source: string }>(
        'SELECT kind, source FROM suspicion_events WHERE card_ref = ? ORDER BY id',
        oldCard.id,
      );
    expect(await ws.verification.verify(oldCard.n, stolenCode)).toEqual({ accepted: false, reason: 'card_blocked' });
    const earlier = (await suspicions()).length; // the sheet test tried the old N once already
    expect((await suspicions()).slice(earlier - 1)).toEqual([{ kind: 'blocked_card_used', source: 'desk' }]);
    // The new card's N with the old card's code: simply a wrong code.
    expect(await ws.verification.verify(newCard.n, stolenCode)).toMatchObject({ accepted: false });

    const svc = await startServiceOn(t.dataDir, t.database);
    try {
      const key = await svc.key('verify');
      const res = await httpCall(svc.url, '/v1/verify', { key, body: { n: oldCard.n, code: stolenCode } });
      expect(res.body).toMatchObject({ result: 'rejected', reason: 'card_blocked' });
    } finally {
      await svc.close();
    }
    expect(await suspicions()).toHaveLength(earlier + 1);
    const last = (await suspicions()).at(-1) as { kind: string; source: string };
    expect(last.kind).toBe('blocked_card_used');
    expect(last.source).toMatch(/^client:/);
    expect(
      (await auditRows(ws)).filter((a) => a.action === 'verification.suspicion' && a.object === `card:${oldCard.n}`),
    ).not.toHaveLength(0);
  });

  it('the old table stays disabled and the old card stays dead, whatever asks', async () => {
    const oldList = (await listsOf(oldCard.id))[0]!;
    const repo = t.sql.repos.lists;
    const before = await snapshot();
    for (const to of ['receipt_verified', 'prepared', 'superseded'] as const) {
      await expect(repo.transition(oldList.id, ['disabled'], to, new Date().toISOString())).rejects.toThrow(
        /stays disabled/,
      );
    }
    await expect(
      ws.lists.activate(oldList.id, { operatorId: null, operator: 'system', role: null }),
    ).rejects.toMatchObject({
      code: 'LIST_STATE',
    });
    await expect(t.sql.run(`UPDATE code_lists SET state = 'active' WHERE id = ?`, oldList.id)).rejects.toThrow(
      /stays disabled/,
    );
    await expect(cards().transition(oldCard.id, ['blocked'], 'active', new Date().toISOString())).rejects.toThrow(
      /replaced by a reissue/,
    );
    await expect(
      cards().transition(oldCard.id, ['blocked'], 'awaiting_activation', new Date().toISOString()),
    ).rejects.toThrow(/replaced by a reissue/);
    expect(await snapshot()).toBe(before);
  });

  it('the old card presented at the desk is terminated on the card and in the database', async () => {
    await present(oldFile, 0);
    const seen = value(await call(clerk, 'cards:inReader', { reader: reader(0) })) as {
      card: { lifeCycle: string };
      record: { state: string };
      nextAction: string;
      reconciled: string[];
    };
    expect(seen).toMatchObject({
      card: { lifeCycle: 'terminated' },
      record: { state: 'terminated' },
      nextAction: 'none',
    });
    expect(seen.reconciled.join(' ')).toMatch(/replaced by a reissue/);
    expect(readCard(oldFile).lifeCycle).toBe('terminated');
    expect((await cards().byId(oldCard.id))?.state).toBe('terminated');
    expect(value(await call(support, 'reissue:status', { caseId }))).toMatchObject({ oldCardTerminated: true });
    // Presented again: nothing more to do, no second TERMINATE.
    value(await call(clerk, 'cards:inReader', { reader: reader(0) }));
    expect((await auditRows(ws)).filter((a) => a.action === 'reissue.old_card_terminated')).toHaveLength(1);
    await expect(cards().transition(oldCard.id, ['terminated'], 'blocked', new Date().toISOString())).rejects.toThrow(
      /stays terminated/,
    );
    expect(await ws.verification.verify(oldCard.n, stolenCode)).toEqual({ accepted: false, reason: 'card_terminated' });
  });

  it('a reissue cut off between the enrollment and marking the case is finished after a restart, with no second card', async () => {
    // A second customer whose card never arrived (awaiting activation, no list): nothing to carry.
    const lostFile = createTestCard(bed.cardDir);
    await present(lostFile, 1);
    const lost = await personaliseAwaiting(ws, reader(1));
    await report(lost.record);
    const fresh = createTestCard(bed.cardDir);
    await present(fresh, 1);
    const lostCase = gate.verified(lost.record.customerId, lost.record.id);
    gate.dieAtNextMark = true;
    const cut = await call(support, 'reissue:reissue', { caseId: lostCase, reader: reader(1) });
    expect(cut).toMatchObject({ ok: false });
    expect((await cardsOf(lost.record.customerId)).map((c) => c.state)).toEqual(['blocked', 'awaiting_activation']);
    expect(gate.stateOf(lostCase)?.state).toBe('verified');
    const enrolledBefore = (await auditRows(ws)).filter((a) => a.action === 'enrollment.completed').length;

    // The desk restarts on the same data directory (the in-memory state is gone) and is asked again.
    ws = await t.restart();
    value(
      await ws.router.dispatch(OFFICER_CLIENT, 'auth:signIn', {
        username: OFFICER.username,
        password: OFFICER.password,
      }),
    );
    value(await ws.router.dispatch(OFFICER_CLIENT, 'keys:unlock', { passphrase: KEYSTORE_PASSPHRASE }));
    value(
      await ws.router.dispatch(support.client, 'auth:signIn', {
        username: support.username,
        password: support.password,
      }),
    );
    expect(value(await call(support, 'reissue:status', { caseId: lostCase }))).toMatchObject({ state: 'enrolled' });

    const done = value(await call(support, 'reissue:reissue', { caseId: lostCase, reader: reader(1) })) as {
      resumed: boolean;
      carriedCodes: number;
      newCardId: string;
    };
    expect(done).toMatchObject({ resumed: true, carriedCodes: 0 });
    expect(done.newCardId).toBe(readCard(fresh).cardId.toUpperCase());
    const theirs = await cardsOf(lost.record.customerId);
    expect(theirs.map((c) => c.state)).toEqual(['blocked', 'awaiting_activation']);
    expect((await auditRows(ws)).filter((a) => a.action === 'enrollment.completed')).toHaveLength(enrolledBefore);
    expect(gate.stateOf(lostCase)).toMatchObject({ state: 'reissued', newCardId: theirs[1]!.id });
    // No quota: the new card gets an ordinary first list at activation, none is queued now.
    expect(await listsOf(theirs[1]!.id)).toEqual([]);
    // And once more: refused, nothing changed.
    expect(await call(support, 'reissue:reissue', { caseId: lostCase, reader: reader(1) })).toMatchObject({
      ok: false,
      error: { code: 'REISSUE_DONE' },
    });

    // Its emergency sheet serves until the card is activated — even when that activation's first push
    // never happened: from the card's activation on, the sheet's codes are refused.
    value(
      await ws.router.dispatch(manager.client, 'auth:signIn', {
        username: manager.username,
        password: manager.password,
      }),
    );
    value(
      await ws.router.dispatch(manager2.client, 'auth:signIn', {
        username: manager2.username,
        password: manager2.password,
      }),
    );
    value(
      await call(manager, 'reissue:printEmergencySheet', {
        caseId: lostCase,
        approval: await approvalFor(ws, manager, 'mailer.print', manager2),
      }),
    );
    const codes = [...pdfText(mailer.printer.jobs.at(-1)!.pdf).matchAll(/^\s*(\d{1,2})\s+(\d{6})\s*$/gm)].map(
      (m) => m[2]!,
    );
    expect(await ws.verification.verify(theirs[1]!.n, codes[0]!)).toMatchObject({ accepted: true, index: 1 });
    await cards().transition(theirs[1]!.id, ['awaiting_activation'], 'active', new Date().toISOString());
    expect(await ws.verification.verify(theirs[1]!.n, codes[1]!)).toEqual({ accepted: false, reason: 'table_expired' });
  });
});
