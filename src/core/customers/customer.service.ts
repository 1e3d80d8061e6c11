import type { z } from 'zod';
import type {
  CustomerCard,
  CustomerSaveOutcome,
  customerInputSchema,
  customersChannels,
  DuplicateCandidate,
  DuplicateReason,
} from '../../shared/contract/customers.contract';
import type { AuditEntry } from '../../shared/contract/audit.contract';
import type { AuditDetails, AuditTrail } from '../audit/audit.service';
import type { Atomically } from '../db/repositories';
import type { Session } from '../auth/session.store';
import type { CardRepository } from '../cards/card.repository';
import { AppError } from '../errors';
import type { CustomerHistoryRepository } from './customer-history.repository';
import {
  CustomerRefTakenError,
  nameKey,
  type CustomerListItem,
  type CustomerQuery,
  type CustomerRecord,
  type CustomerRepository,
  type NewCustomer,
} from './customer.repository';

export type CustomerFields = z.output<typeof customerInputSchema>;
export type CustomerSearch = z.output<(typeof customersChannels)['customers:search']['input']>;

/** The fields an edit can change, by the names the audit records (never their values). */
const FIELDS: readonly [string, (c: NewCustomer) => string | null][] = [
  ['fullName', (c) => c.fullName],
  ['birthDate', (c) => c.birthDate],
  ['customerRef', (c) => c.customerRef],
  ['address.line1', (c) => c.address.line1],
  ['address.line2', (c) => c.address.line2],
  ['address.postalCode', (c) => c.address.postalCode],
  ['address.city', (c) => c.address.city],
  ['address.country', (c) => c.address.country],
  ['email', (c) => c.email],
  ['mobile', (c) => c.mobile],
  ['branch', (c) => c.branch],
];

const MAX_CANDIDATES = 20;
const HISTORY_LIMIT = 200;

export interface CustomerServiceDeps {
  readonly customers: CustomerRepository;
  readonly cards: CardRepository;
  readonly history: CustomerHistoryRepository;
  readonly audit: AuditTrail;
  /** A save and its 'customer.create'/'customer.update' entry commit together (repositories.ts). */
  readonly atomically: Atomically;
  readonly now?: () => Date;
}

/**
 * Customer records: create and edit with a duplicate warning and optimistic concurrency, search,
 * and the customer page. Every change is audited by the names of the fields it touched; the
 * personal values themselves stay in the customers table.
 */
export class CustomerService {
  private readonly now: () => Date;

  constructor(private readonly deps: CustomerServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(by: Session, input: CustomerFields, confirmDuplicates: boolean): Promise<CustomerSaveOutcome> {
    const record = toRecord(input);
    const found = await this.duplicates(record, null, new Set(FIELDS.map(([name]) => name)));
    const held = await this.holdForDuplicates(by, 'create', null, found, confirmDuplicates);
    if (held) return held;
    try {
      return await this.deps.atomically(async (tx) => {
        const saved = await tx.repos.customers.insert(record, { operator: by.username, at: this.now().toISOString() });
        const changed = FIELDS.filter(([, get]) => get(saved) !== null).map(([name]) => name);
        await this.audit(tx.audit, by, 'customer.create', saved.id, 'ok', {
          fields: changed.join(','),
          ...confirmedNote(found),
        });
        return { status: 'saved', customer: saved, changed };
      });
    } catch (err) {
      // The unit rolled back: the refusal is recorded on its own.
      if (err instanceof CustomerRefTakenError) throw await this.refTaken(by, 'create', null, null);
      throw err;
    }
  }

  async update(
    by: Session,
    id: number,
    version: number,
    input: CustomerFields,
    confirmDuplicates: boolean,
  ): Promise<CustomerSaveOutcome> {
    const current = await this.deps.customers.get(id);
    if (!current) {
      await this.audit(this.deps.audit, by, 'customer.update', id, 'denied', { reason: 'not-found' });
      throw notFound(id);
    }
    if (current.version !== version) throw await this.stale(by, id, version, current.version);
    const record = toRecord(input);
    const changed = FIELDS.filter(([, get]) => get(record) !== get(current)).map(([name]) => name);
    if (changed.length === 0) return { status: 'saved', customer: current, changed: [] };

    // Only what this edit changes can make the record look like someone else's now.
    const found = await this.duplicates(record, id, new Set(changed));
    const held = await this.holdForDuplicates(by, 'update', id, found, confirmDuplicates);
    if (held) return held;
    let saved: CustomerRecord | null;
    try {
      saved = await this.deps.atomically(async (tx) => {
        const s = await tx.repos.customers.update(id, version, record, {
          operator: by.username,
          at: this.now().toISOString(),
        });
        if (s)
          await this.audit(tx.audit, by, 'customer.update', id, 'ok', {
            fields: changed.join(','),
            fromVersion: version,
            toVersion: s.version,
            ...confirmedNote(found),
          });
        return s;
      });
    } catch (err) {
      if (err instanceof CustomerRefTakenError) throw await this.refTaken(by, 'update', id, null);
      throw err;
    }
    if (!saved) {
      // Another desk saved between our read and our write: the compare-and-set refused this one.
      const now = await this.deps.customers.get(id);
      if (!now) throw notFound(id);
      throw await this.stale(by, id, version, now.version);
    }
    return { status: 'saved', customer: saved, changed };
  }

  async get(
    id: number,
  ): Promise<{ customer: CustomerRecord; cards: CustomerCard[]; history: AuditEntry[]; historyTruncated: boolean }> {
    const customer = await this.deps.customers.get(id);
    if (!customer) throw notFound(id);
    const cards = await this.deps.cards.listByCustomer(id);
    // Card workflows name a card by its card id or its N; the keystore names a card key by its N.
    const objects = [`customer:${id}`, ...cards.flatMap((c) => [`card:${c.cardId}`, `card:${c.n}`, c.n])];
    const { entries, more } = await this.deps.history.forObjects(objects, HISTORY_LIMIT);
    return {
      customer,
      cards: cards.map((c) => ({
        id: c.id,
        cardId: c.cardId,
        n: c.n,
        state: c.state,
        sealMode: c.sealMode,
        enrolledAt: c.enrolledAt,
        enrolledBy: c.enrolledBy,
        activatedAt: c.activatedAt,
        stateChangedAt: c.stateChangedAt,
      })),
      history: entries,
      historyTruncated: more,
    };
  }

  async search(
    s: CustomerSearch,
  ): Promise<{ total: number; page: number; pageSize: number; customers: CustomerListItem[] }> {
    const base = {
      sort: s.sort,
      direction: s.direction,
      limit: s.pageSize,
      offset: (s.page - 1) * s.pageSize,
    } as const;
    const q = s.query.trim();
    const words = nameKey(q).split(' ').filter(Boolean);
    // Card ids are upper-case hex and N is upper-case; people type them with spaces and in any case.
    const compact = q.replace(/\s+/g, '').toUpperCase();
    let query: CustomerQuery = base;
    if (q !== '') {
      switch (s.field) {
        case 'name':
          query = { ...base, nameWords: words };
          break;
        case 'customerRef':
          query = { ...base, customerRef: q };
          break;
        case 'cardId':
          query = { ...base, cardId: compact };
          break;
        case 'n':
          query = { ...base, n: compact };
          break;
        case 'any':
          query = { ...base, anyOf: true, nameWords: words, customerRef: q, cardId: compact, n: compact };
          break;
      }
    }
    const { total, rows } = await this.deps.customers.search(query);
    return { total, page: s.page, pageSize: s.pageSize, customers: rows };
  }

  /** Records that may be the same person, by the identifying fields in `fields` only. */
  private async duplicates(
    record: NewCustomer,
    excludeId: number | null,
    fields: ReadonlySet<string>,
  ): Promise<{ sameRef: CustomerRecord | null; candidates: DuplicateCandidate[] }> {
    const nameOrBirth = fields.has('fullName') || fields.has('birthDate');
    const rows = await this.deps.customers.possibleDuplicates(
      {
        fullName: record.fullName,
        birthDate: nameOrBirth ? record.birthDate : null,
        customerRef: fields.has('customerRef') ? record.customerRef : null,
        email: fields.has('email') ? record.email : null,
        mobile: fields.has('mobile') ? record.mobile : null,
      },
      excludeId,
      MAX_CANDIDATES,
    );
    const sameRef =
      record.customerRef !== null && fields.has('customerRef')
        ? (rows.find((r) => r.customerRef === record.customerRef) ?? null)
        : null;
    const candidates: DuplicateCandidate[] = [];
    for (const r of rows) {
      const reasons: DuplicateReason[] = [];
      if (
        nameOrBirth &&
        record.birthDate &&
        r.birthDate === record.birthDate &&
        nameKey(r.fullName) === nameKey(record.fullName)
      )
        reasons.push('name-and-birth-date');
      if (fields.has('email') && record.email && r.email?.toLowerCase() === record.email.toLowerCase())
        reasons.push('email');
      if (fields.has('mobile') && record.mobile && r.mobile === record.mobile) reasons.push('mobile');
      if (reasons.length > 0)
        candidates.push({
          id: r.id,
          fullName: r.fullName,
          birthDate: r.birthDate,
          customerRef: r.customerRef,
          city: r.address.city,
          branch: r.branch,
          reasons,
        });
    }
    return { sameRef, candidates };
  }

  /**
   * A taken reference is refused outright (the column is unique). Other likely duplicates hold
   * the save back with the candidates, unless the operator already saw them and confirmed.
   */
  private async holdForDuplicates(
    by: Session,
    kind: 'create' | 'update',
    id: number | null,
    found: { sameRef: CustomerRecord | null; candidates: DuplicateCandidate[] },
    confirmed: boolean,
  ): Promise<CustomerSaveOutcome | null> {
    if (found.sameRef) throw await this.refTaken(by, kind, id, found.sameRef.id);
    if (found.candidates.length === 0 || confirmed) return null;
    await this.audit(this.deps.audit, by, 'customer.duplicateWarning', id, 'ok', {
      for: kind,
      candidates: found.candidates.map((c) => `customer:${c.id}`).join(','),
      reasons: [...new Set(found.candidates.flatMap((c) => c.reasons))].join(','),
    });
    return { status: 'possible-duplicates', candidates: found.candidates };
  }

  private async refTaken(
    by: Session,
    kind: 'create' | 'update',
    id: number | null,
    holder: number | null,
  ): Promise<AppError> {
    await this.audit(this.deps.audit, by, `customer.${kind}`, id, 'denied', {
      reason: 'reference-taken',
      ...(holder !== null ? { holder: `customer:${holder}` } : {}),
    });
    return new AppError(
      'CUSTOMER_REF_TAKEN',
      `Another customer${holder !== null ? ` (#${holder})` : ''} already has this customer reference. ` +
        'Search for it and open that customer instead, or correct the reference; nothing was saved.',
      { fields: JSON.stringify({ 'customer.customerRef': 'This reference belongs to another customer' }) },
    );
  }

  private async stale(by: Session, id: number, seen: number, now: number): Promise<AppError> {
    await this.audit(this.deps.audit, by, 'customer.update', id, 'denied', {
      reason: 'stale-version',
      seenVersion: seen,
      currentVersion: now,
    });
    return new AppError(
      'CUSTOMER_STALE',
      'Someone else changed this customer after you opened it. Reload the customer, check their changes ' +
        'and make yours again; nothing was saved.',
      { currentVersion: now },
    );
  }

  private audit(
    sink: Pick<AuditTrail, 'append'>,
    by: Session,
    action: string,
    id: number | null,
    outcome: 'ok' | 'denied',
    details: AuditDetails,
  ): Promise<void> {
    return sink.append({
      operatorId: by.operatorId,
      operator: by.username,
      role: by.role,
      action,
      object: id === null ? null : `customer:${id}`,
      outcome,
      details,
    });
  }
}

function toRecord(c: CustomerFields): NewCustomer {
  return {
    fullName: c.fullName,
    birthDate: c.birthDate ?? null,
    customerRef: c.customerRef ?? null,
    address: {
      line1: c.address.line1,
      line2: c.address.line2 ?? null,
      postalCode: c.address.postalCode,
      city: c.address.city,
      country: c.address.country,
    },
    email: c.email ?? null,
    mobile: c.mobile ?? null,
    branch: c.branch,
  };
}

function confirmedNote(found: { candidates: DuplicateCandidate[] }): AuditDetails {
  return found.candidates.length > 0
    ? { duplicatesConfirmed: found.candidates.map((c) => `customer:${c.id}`).join(',') }
    : {};
}

function notFound(id: number): AppError {
  return new AppError('CUSTOMER_NOT_FOUND', `There is no customer #${id}. Search for the customer again.`);
}
