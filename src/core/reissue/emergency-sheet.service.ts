import { randomBytes } from 'node:crypto';
import type { Approval } from '../../shared/contract/approval.contract';
import type { AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { Session } from '../auth/session.store';
import type { CardRecord, CardRepository } from '../cards/card.repository';
import type { CustomerRepository } from '../customers/customer.repository';
import type { DualControlService } from '../dual-control/dual-control.service';
import { formatN } from '../enrollment/identification-code';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import type { EmergencySheet, Keystore } from '../keystore/keystore.types';
import type { ListRecord, ListRepository } from '../lists/list.repository';
import type { SheetPrinter } from '../mailer/mailer-ports';
import type { PolicySource } from '../policy/policy.service';
import type { ReissueRepository } from './reissue.repository';

// Temporary access while the reissued card is in the post (issue 11 item 4; docs/reissue.md
// "Temporary access"): a short list of codes (policy emergencyListLength, valid emergencyListDays)
// printed on a sheet the mailer's way — under dual control `mailer.print`, the codes made inside the
// keystore and put straight into the sheet's HTML, its PDF and the printer, never into the desk's
// page, a log or the database. The list is a code_lists row of the NEW card sealed for
// `sheet:<N>`: core verify accepts its codes with the new N while that card awaits activation, and
// refuses them from the moment the card is activated.

export interface EmergencySheetDeps {
  readonly reissues: ReissueRepository;
  readonly cards: CardRepository;
  readonly customers: CustomerRepository;
  readonly listRepo: ListRepository;
  readonly keystore: { run<T>(actor: KeystoreActor, fn: (ks: Keystore) => T): T };
  readonly dualControl: Pick<DualControlService, 'require'>;
  readonly policies: PolicySource;
  readonly sheets: SheetPrinter;
  readonly audit: AuditTrail;
  /** A sheet's list withdrawn or marked printed commits with its entry (repositories.ts). */
  readonly atomically: Atomically;
  readonly now?: () => Date;
}

export interface EmergencySheetPrinted {
  readonly caseId: number;
  /** The N the codes are typed with: the new card's. */
  readonly n: string;
  readonly seq: number;
  readonly length: number;
  readonly expiresAt: string;
  readonly destination: string;
  readonly approvedBy: string | null;
}

export class EmergencySheetService {
  private readonly now: () => Date;
  /**
   * One print per case at a time on this desk (the instance lock makes it the only desk on this
   * database): a second request waits and then finds the sheet printed. The database's compare-and-set
   * on the reissue row and the list's UNIQUE (card, seq) guard the rest.
   */
  private readonly perCase = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: EmergencySheetDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Prints the case's emergency sheet once, with a second manager's or officer's approval. */
  async print(
    session: Session,
    input: { caseId: number; approval?: Approval | undefined },
  ): Promise<EmergencySheetPrinted> {
    const before = this.perCase.get(input.caseId) ?? Promise.resolve();
    const run = before.then(() => this.printNow(session, input));
    const settled = run.catch(() => undefined);
    this.perCase.set(input.caseId, settled);
    void settled.then(() => {
      if (this.perCase.get(input.caseId) === settled) this.perCase.delete(input.caseId);
    });
    return run;
  }

  private async printNow(
    session: Session,
    input: { caseId: number; approval?: Approval | undefined },
  ): Promise<EmergencySheetPrinted> {
    const row = await this.deps.reissues.byCase(input.caseId);
    if (!row || row.newCardRef === null)
      throw new AppError(
        'EMERGENCY_NO_NEW_CARD',
        'This case has no new card yet. Reissue the card first; the emergency sheet covers the time it is in the post.',
      );
    if (row.emergencyPrintedAt !== null)
      throw new AppError(
        'EMERGENCY_ALREADY_PRINTED',
        'The emergency sheet of this case was printed already; a second one is never printed. Its codes work until the new card is activated.',
      );
    const card = await this.card(row.newCardRef);
    if (card.state !== 'awaiting_activation')
      throw new AppError(
        'EMERGENCY_CARD_ACTIVE',
        'The new card is no longer waiting for activation, so it needs no emergency sheet. Nothing was printed.',
      );
    const customer = await this.deps.customers.get(card.customerId);
    if (!customer) throw new AppError('EMERGENCY_NO_CUSTOMER', `Card ${card.n} has no customer record.`);
    const approver = await this.deps.dualControl.require('mailer.print', session, input.approval, {
      cardRef: card.id,
      sheet: 'emergency',
    });
    const actor: KeystoreActor = {
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      ...(approver ? { approvedBy: approver.username } : {}),
    };

    // A sheet made earlier whose print never finished: its codes may never be used (superseded).
    const earlier = row.emergencyListRef;
    if (earlier !== null) await this.deps.listRepo.transition(earlier, ['active'], 'superseded', this.at());

    const p = this.deps.policies.current();
    const listId = randomBytes(16);
    const seq = ((await this.deps.listRepo.forCard(card.id))[0]?.seq ?? 0) + 1;
    const expires = new Date(this.now().getTime() + p.emergencyListDays * 86_400_000);
    expires.setUTCMilliseconds(0);
    const sheet = await this.deps.keystore.run(actor, (ks) =>
      ks.issueEmergencySheet(
        {
          n: card.n,
          cardId: Buffer.from(card.cardId, 'hex'),
          listSeq: seq,
          listId,
          length: p.emergencyListLength,
          digits: p.codeDigits,
        },
        { operator: session.username, role: session.role, reason: `emergency sheet, case ${input.caseId}` },
      ),
    );
    let list: ListRecord;
    try {
      list = await this.deps.listRepo.insertActiveSheet(
        {
          cardRef: card.id,
          seq,
          listId: listId.toString('hex'),
          length: p.emergencyListLength,
          digits: p.codeDigits,
          threshold: 0,
          expiresAt: expires.toISOString(),
          trigger: 'manual',
        },
        { mkVersion: sheet.mkVersion, sealedFor: sheet.sealedFor, bodyHash: sheet.bodyHash },
        { operator: session.username, at: this.at() },
      );
    } catch {
      throw new AppError(
        'EMERGENCY_CONFLICT',
        'Another desk changed this card’s lists at the same moment. Nothing was printed; try again.',
      );
    }
    const recorded = await this.deps.reissues.setEmergencyList(row.id, earlier, list.id, this.at());
    if (!recorded) {
      await this.deps.listRepo.transition(list.id, ['active'], 'superseded', this.at());
      throw new AppError(
        'EMERGENCY_CONFLICT',
        'Another desk is printing this case’s emergency sheet. Nothing was printed here.',
      );
    }
    const serial = `E-${list.listId.slice(0, 8).toUpperCase()}`;
    try {
      await this.deps.sheets.print(
        sheetHtml(sheet, { serial, n: card.n, name: customer.fullName, expiresAt: list.expiresAt }),
        serial,
      );
    } catch (err) {
      // Maybe on paper, maybe not: its codes never serve. A new print makes a new list.
      await this.deps.atomically(async (tx) => {
        await tx.repos.lists.transition(list.id, ['active'], 'superseded', this.at());
        await this.audit(
          session,
          'reissue.emergency_print_failed',
          card,
          'failed',
          { caseId: input.caseId, seq },
          tx.audit,
        );
      });
      throw err instanceof AppError
        ? err
        : new AppError(
            'EMERGENCY_PRINT_FAILED',
            'The printer did not take the sheet. Its codes were withdrawn; print it again.',
          );
    }
    await this.deps.atomically(async (tx) => {
      await tx.repos.reissues.markEmergencyPrinted(row.id, list.id, {
        operator: session.username,
        approver: approver?.username ?? null,
        at: this.at(),
      });
      await this.audit(
        session,
        'reissue.emergency_printed',
        card,
        'ok',
        {
          caseId: input.caseId,
          seq,
          length: list.length,
          expiresAt: list.expiresAt,
          serial,
          destination: this.deps.sheets.destination,
          approvedBy: approver?.username ?? '',
        },
        tx.audit,
      );
    });
    return {
      caseId: input.caseId,
      n: card.n,
      seq,
      length: list.length,
      expiresAt: list.expiresAt,
      destination: this.deps.sheets.destination,
      approvedBy: approver?.username ?? null,
    };
  }

  private async card(id: number): Promise<CardRecord> {
    const card = await this.deps.cards.byId(id);
    if (!card) throw new AppError('CARD_UNKNOWN', 'There is no such card. Reload the case.');
    return card;
  }

  private at(): string {
    return this.now().toISOString();
  }

  private audit(
    session: Session,
    action: string,
    card: CardRecord,
    outcome: 'ok' | 'failed',
    details: Record<string, string | number | boolean>,
    sink: Pick<AuditTrail, 'append'> = this.deps.audit,
  ): Promise<void> {
    return sink.append({
      operatorId: session.operatorId,
      operator: session.username,
      role: session.role,
      action,
      object: `card:${card.n}`,
      outcome,
      details,
    });
  }
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** The sheet: self-contained, no script, no network; every value escaped. */
function sheetHtml(sheet: EmergencySheet, c: { serial: string; n: string; name: string; expiresAt: string }): string {
  const rows = sheet.codes.map((code, i) => `<tr><td>${i + 1}</td><td class="code">${escape(code)}</td></tr>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Emergency codes ${escape(c.serial)}</title>
<style>body{font-family:sans-serif;margin:2cm}td{padding:2px 12px}.code{font-family:monospace;font-size:14pt}</style>
</head><body>
<h1>Emergency codes</h1>
<p>For ${escape(c.name)}. Sheet ${escape(c.serial)}.</p>
<p>Your new card is on its way. Until it arrives, sign in with your new identification code
<strong>N ${escape(formatN(c.n))}</strong> and these codes, one after the other. They stop working the moment you
activate your new card, and on ${escape(c.expiresAt.slice(0, 10))} at the latest. Keep this sheet apart from any
letter that names your N, and destroy it once your card is active.</p>
<table><thead><tr><th>#</th><th>Code</th></tr></thead><tbody>${rows}</tbody></table>
</body></html>`;
}
