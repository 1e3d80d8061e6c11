import { SqliteCardRepository, type CardRepository } from '../cards/card.repository';
import { nameKey, SqliteCustomerRepository, type CustomerRepository } from '../customers/customer.repository';
import type { Database } from '../db/database';

// The enrollment wizard's customer search: name or customer reference, a short page of matches,
// answered by the customers feature's repository (one search, one set of rules).

export interface CustomerChoice {
  readonly id: number;
  readonly fullName: string;
  readonly customerRef: string | null;
  readonly birthDate: string | null;
  readonly city: string;
  readonly branch: string;
  /** Cards already bound to the customer, whatever their state. */
  readonly cards: number;
}

export interface CustomerPicker {
  /** Up to `limit` customers whose name contains the words of `query`, or whose reference starts with it. */
  search(query: string, limit: number): Promise<CustomerChoice[]>;
  get(id: number): Promise<CustomerChoice | null>;
}

/**
 * The picker over the customers feature's own search (customer.repository.ts): words that begin
 * the name or one of its words, or the exact customer reference; the same rules as the Customers page.
 */
export class RepositoryCustomerPicker implements CustomerPicker {
  constructor(
    private readonly customers: CustomerRepository,
    private readonly cards: CardRepository,
  ) {}

  async search(query: string, limit: number): Promise<CustomerChoice[]> {
    const nameWords = nameKey(query).split(' ').filter(Boolean).slice(0, 5);
    if (nameWords.length === 0) return [];
    const { rows } = await this.customers.search({
      nameWords,
      customerRef: query.trim(),
      anyOf: true,
      sort: 'name',
      direction: 'asc',
      limit,
      offset: 0,
    });
    return rows.map((r) => ({
      id: r.id,
      fullName: r.fullName,
      customerRef: r.customerRef,
      birthDate: r.birthDate,
      city: r.city,
      branch: r.branch,
      cards: r.cards,
    }));
  }

  async get(id: number): Promise<CustomerChoice | null> {
    const c = await this.customers.get(id);
    if (!c) return null;
    const cards = (await this.cards.listByCustomer(id)).length;
    return {
      id: c.id,
      fullName: c.fullName,
      customerRef: c.customerRef,
      birthDate: c.birthDate,
      city: c.address.city,
      branch: c.branch,
      cards,
    };
  }
}

/** The picker on one SQLite database. */
export const sqliteCustomerPicker = (db: Database): CustomerPicker =>
  new RepositoryCustomerPicker(new SqliteCustomerRepository(db), new SqliteCardRepository(db));
