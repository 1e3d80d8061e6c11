import {
  SqliteCardRepository,
  type CardRepository,
  type CardRecord,
  type CardState,
  type SealMode,
} from '../../src/core/cards/card.repository';
import {
  SqliteCustomerRepository,
  type CustomerRepository,
  type CustomerRecord,
  type NewCustomer,
} from '../../src/core/customers/customer.repository';
import type { Database } from '../../src/core/db/database';

// Customers and cards straight through the repositories, for tests of the workflows that come after
// enrollment (lists, verify, mailer, activation): what enrollment would have left, without a desk.

let serial = 0;

/** The repositories the rows go through: a SQLite desk's database, or either engine's repositories. */
export type RowStore = Database | { readonly customers: CustomerRepository; readonly cards: CardRepository };

function reposOf(db: RowStore): { customers: CustomerRepository; cards: CardRepository } {
  return 'prepare' in db ? { customers: new SqliteCustomerRepository(db), cards: new SqliteCardRepository(db) } : db;
}

/** A customer with a unique reference; any field can be given. */
export async function customerRow(
  db: RowStore,
  fields: Partial<NewCustomer> = {},
  by = { operator: 'clara', at: new Date().toISOString() },
): Promise<CustomerRecord> {
  const i = ++serial;
  return reposOf(db).customers.insert(
    {
      customerRef: `C-${process.pid}-${i}`,
      fullName: 'Ada Lovelace',
      birthDate: '1980-02-29',
      address: { line1: '12 Square', line2: null, postalCode: '1000', city: 'London', country: 'GB' },
      email: null,
      mobile: null,
      branch: 'Central',
      ...fields,
    },
    by,
  );
}

/**
 * A card bound to a new customer (or `customerId`), moved from `enrolling` to `state` (default
 * active). Card id and N are unique unless given.
 */
export async function cardRow(
  db: RowStore,
  opts: {
    customerId?: number;
    customer?: Partial<NewCustomer>;
    n?: string;
    cardId?: string;
    sealMode?: SealMode;
    state?: CardState;
    at?: string;
  } = {},
): Promise<{ card: CardRecord; customer: CustomerRecord }> {
  const at = opts.at ?? new Date().toISOString();
  const by = { operator: 'clara', at };
  const customer = opts.customerId
    ? ((await reposOf(db).customers.get(opts.customerId)) ?? (await customerRow(db, opts.customer, by)))
    : await customerRow(db, opts.customer, by);
  const i = ++serial;
  const { cards } = reposOf(db);
  const inserted = await cards.insert(
    {
      cardId:
        opts.cardId ?? `C0${process.pid.toString(16).padStart(6, '0')}${i.toString(16).padStart(8, '0')}`.toUpperCase(),
      customerId: customer.id,
      n: opts.n ?? `N-${process.pid}-${i}`,
      sealMode: opts.sealMode ?? 'card-key',
    },
    by,
  );
  const state = opts.state ?? 'active';
  const card = state === 'enrolling' ? inserted : await cards.transition(inserted.id, ['enrolling'], state, at);
  if (!card) throw new Error(`card did not move to ${state}`);
  return { card, customer };
}
