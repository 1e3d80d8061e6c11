import type { Database } from '../db/database';
import { nameKey } from '../customers/customer.repository';

// The enrollment wizard's customer search: name or customer reference, a short page of matches.
// The customers feature owns the full search (card id, N, duplicates); this is the minimum the
// wizard needs, kept here so the two features do not edit one file. Portable SQL (docs/storage.md).

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

interface Row {
  id: number;
  full_name: string;
  customer_ref: string | null;
  birth_date: string | null;
  city: string;
  branch: string;
  cards: number;
}

const fromRow = (r: Row): CustomerChoice => ({
  id: r.id,
  fullName: r.full_name,
  customerRef: r.customer_ref,
  birthDate: r.birth_date,
  city: r.city,
  branch: r.branch,
  cards: r.cards,
});

const SELECT = `SELECT c.id, c.full_name, c.customer_ref, c.birth_date, c.city, c.branch,
    (SELECT COUNT(*) FROM cards k WHERE k.customer_id = c.id) AS cards
  FROM customers c`;

/** LIKE pattern for `s` taken literally. */
const literal = (s: string): string => s.replace(/[\\%_]/g, (m) => `\\${m}`);

export class SqliteCustomerPicker implements CustomerPicker {
  constructor(private readonly db: Database) {}

  async search(query: string, limit: number): Promise<CustomerChoice[]> {
    const words = nameKey(query).split(' ').filter(Boolean).slice(0, 5);
    if (words.length === 0) return [];
    const byName = words.map(() => `c.name_key LIKE ? ESCAPE '\\'`).join(' AND ');
    return this.db
      .prepare<unknown[], Row>(
        `${SELECT} WHERE (${byName}) OR c.customer_ref LIKE ? ESCAPE '\\'
         ORDER BY c.name_key, c.id LIMIT ?`,
      )
      .all(...words.map((w) => `%${literal(w)}%`), `${literal(query.trim())}%`, limit)
      .map(fromRow);
  }

  async get(id: number): Promise<CustomerChoice | null> {
    const row = this.db.prepare<[number], Row>(`${SELECT} WHERE c.id = ?`).get(id);
    return row ? fromRow(row) : null;
  }
}
