import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeskWorkstation } from '../../../src/core/workstation';
import { addOperator, auditRows, value, type TestOperator } from '../../support/operators';
import { encodings, filesUnder } from '../../support/secret-encodings';
import { CUSTOMER_EMAIL, reportedCase } from '../../support/support-cases';
import {
  ISSUER_FROM,
  ISSUER_INBOX,
  customerSends,
  mailSink,
  mailedPasskey,
  smsSink,
  supportOptions,
  type MailSink,
  type SmsSink,
} from '../../support/support-channels';
import { eventuallyAsync } from '../../support/testbed';
import { databaseContents } from '../../support/desk-contents';
import { engineDeskWithKeystore, type EngineDesk } from '../../support/verify-service';

// Issue 11 item 2 by e-mail: the desk's nodemailer delivers to a real SMTP server on loopback that the
// test reads; claim 3: the customer sends the passkey from the registered address to the desk's own
// inbound listener (smtp-server) and the case is verified; from any other address nothing changes and
// the message is audited as ignored. Last, every passkey this file saw is searched for in the data
// directory's files (database, WAL, logs; on PostgreSQL its tables), the audit trail and every answer
// the desk gave.

describe('the passkey by e-mail, and sent back by e-mail (claim 3)', () => {
  let desk: EngineDesk;
  let ws: DeskWorkstation;
  let mail: MailSink;
  let sms: SmsSink;
  let support: TestOperator;
  let inbound: number;
  const answers: unknown[] = [];
  const dispatch = async (op: TestOperator, channel: string, input: unknown) => {
    const r = await ws.router.dispatch(op.client, channel, input);
    answers.push(r);
    return r;
  };
  const row = async (caseId: number) => (await desk.sql.get('SELECT * FROM support_cases WHERE id = ?', caseId))!;
  const mailPasskey = async (caseId: number) => {
    const count = mail.mails.filter((m) => m.to.includes(CUSTOMER_EMAIL)).length + 1;
    value(await dispatch(support, 'support:sendPasskey', { caseId, channel: 'email' }));
    return mailedPasskey(mail, CUSTOMER_EMAIL, count);
  };

  beforeAll(async () => {
    mail = await mailSink();
    sms = await smsSink();
    desk = await engineDeskWithKeystore({ support: supportOptions(mail, sms, true) });
    ws = desk.ws;
    support = await addOperator(ws, 'support');
    inbound = (await ws.inboundMailPort()) ?? 0;
    expect(inbound).toBeGreaterThan(0);
  }, 60_000);
  afterAll(async () => {
    await desk?.dispose();
    await mail?.close();
    await sms?.close();
  });

  it('mails the passkey from the issuer to the registered address, with its expiry and the reply address; typed at the desk it verifies', async () => {
    const { caseId, n } = await reportedCase(ws, support);
    const passkey = await mailPasskey(caseId);
    const sent = mail.mails.at(-1);
    expect(sent).toMatchObject({ to: [CUSTOMER_EMAIL], from: 'cards@issuer.example' });
    expect(sent?.raw).toContain(ISSUER_FROM.split(' <')[0]);
    // The card by its last four characters only: the mail is read far from the desk.
    expect(sent?.text).toContain(`Your card ending ${n.slice(-4)} was reported`);
    expect(sent?.text).not.toContain(n);
    expect(sent?.text).toMatch(/until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(sent?.text).toContain(ISSUER_INBOX);
    const view = value(await dispatch(support, 'support:case', { caseId })) as {
      passkey: { channel: string };
      inboundAddress: string;
    };
    expect(view).toMatchObject({ passkey: { channel: 'email' }, inboundAddress: ISSUER_INBOX });
    expect(value(await dispatch(support, 'support:enterPasskey', { caseId, passkey }))).toMatchObject({
      result: 'verified',
    });
  });

  it('claim 3: the passkey sent from the registered address to the issuer address verifies the case', async () => {
    const { caseId } = await reportedCase(ws, support);
    const passkey = await mailPasskey(caseId);
    const reply = `Hello, here it is:\n\n${passkey}\n\nAda\n\n> Your card was reported to us and is blocked.\n> 0000-0000\n`;
    await customerSends(inbound, `Ada Lovelace <${CUSTOMER_EMAIL.toUpperCase()}>`, reply);
    await eventuallyAsync(async () => (await row(caseId))['state'] === 'verified', 'case verified by the e-mail');
    expect(await row(caseId)).toMatchObject({
      verified_via: 'email_reply',
      verified_by: 'inbound-mail',
      passkey_tag: null,
    });
    expect(await auditRows(ws)).toContainEqual(
      expect.objectContaining({ action: 'support.verified', object: `case:${caseId}`, operator: 'inbound-mail' }),
    );
    // the same message again: the case awaits no passkey any more; ignored and audited, nothing changes
    const before = await row(caseId);
    const auditBefore = (await auditRows(ws)).length;
    await customerSends(inbound, CUSTOMER_EMAIL, reply);
    await eventuallyAsync(
      async () => (await auditRows(ws)).slice(auditBefore).some((a) => a.action === 'support.inbound_ignored'),
      'the replay ignored',
    );
    expect(await row(caseId)).toEqual(before);
  });

  it('from another address, the right passkey changes nothing and is audited as ignored; another recipient is refused by the listener', async () => {
    const { caseId } = await reportedCase(ws, support);
    const passkey = await mailPasskey(caseId);
    const before = await row(caseId);
    const auditBefore = (await auditRows(ws)).length;
    await customerSends(inbound, 'impostor@attacker.example', passkey);
    await eventuallyAsync(async () => (await auditRows(ws)).length > auditBefore, 'the ignored message audited');
    const written = (await auditRows(ws)).slice(auditBefore);
    expect(written).toEqual([
      expect.objectContaining({ action: 'support.inbound_ignored', outcome: 'denied', operator: 'inbound-mail' }),
    ]);
    expect(JSON.parse(written[0]?.details ?? '{}')).toEqual({ why: 'unknown_sender', domain: 'attacker.example' });
    await expect(customerSends(inbound, CUSTOMER_EMAIL, passkey, 'someone-else@issuer.example')).rejects.toThrow();
    expect(await row(caseId)).toEqual(before);
    // still good at the desk
    expect(value(await dispatch(support, 'support:enterPasskey', { caseId, passkey }))).toMatchObject({
      result: 'verified',
    });
  });

  it('from the registered address, a wrong passkey counts as a wrong entry; a message with several passkey-like words is not tried', async () => {
    const { caseId } = await reportedCase(ws, support);
    const passkey = await mailPasskey(caseId);
    const wrong = (passkey.startsWith('2') ? '3' : '2') + passkey.slice(1);
    await customerSends(inbound, CUSTOMER_EMAIL, wrong);
    await eventuallyAsync(async () => (await row(caseId))['failures'] === 1, 'one failure counted');
    const before = await row(caseId);
    await customerSends(inbound, CUSTOMER_EMAIL, `${wrong}\n${passkey}\n`);
    await eventuallyAsync(
      async () =>
        (await auditRows(ws)).some(
          (a) => a.action === 'support.inbound_ignored' && a.details.includes('several_candidates'),
        ),
      'the many-candidates message ignored',
    );
    expect(await row(caseId)).toEqual(before);
  });

  it('no passkey is anywhere but in the messages: not in the database (file and WAL, or tables), the logs, the audit trail or any answer', async () => {
    // one more through SMS, so both channels are covered
    const { caseId } = await reportedCase(ws, support);
    value(await dispatch(support, 'support:sendPasskey', { caseId, channel: 'sms' }));
    const passkeys = [
      ...mail.mails.map((m) => /^ {4}(\S+)\s*$/m.exec(m.text)?.[1] ?? ''),
      ...sms.messages.map((m) => /passkey (\S+),/.exec(m.body.text)?.[1] ?? ''),
    ].filter(Boolean);
    expect(passkeys.length).toBeGreaterThanOrEqual(5);
    const forms = passkeys.flatMap((p) => {
      const plain = p.replace(/-/g, '');
      return [p, plain, p.toLowerCase(), plain.toLowerCase()].flatMap((f) => encodings(Buffer.from(f, 'latin1')));
    });
    // as bytes beside the files: on SQLite the database files again (harmless), on PostgreSQL its rows
    const database = (await databaseContents(ws, desk.dataDir)).map(([where, text]) => ({
      where,
      bytes: Buffer.from(text, 'latin1'),
    }));
    const files = filesUnder(desk.dataDir);
    expect(database.length > 0 || files.some((f) => f.endsWith('workstation.db'))).toBe(true);
    expect(files.some((f) => f.endsWith('.log'))).toBe(true);
    const haystacks = [
      ...database,
      ...files.map((f) => ({ where: f, bytes: readFileSync(f) })),
      { where: 'audit', bytes: Buffer.from(JSON.stringify(await auditRows(ws))) },
      { where: 'answers', bytes: Buffer.from(JSON.stringify(answers)) },
    ];
    const found = (bytes: Buffer) => forms.filter((f) => f.length >= 8 && bytes.includes(Buffer.from(f, 'latin1')));
    // control: the scan finds them where they are meant to be
    expect(found(Buffer.from(mail.mails.map((m) => m.raw).join('\n'))).length).toBeGreaterThan(0);
    expect(haystacks.flatMap((h) => found(h.bytes).map((f) => `${h.where}: ${f}`))).toEqual([]);
  });
});
