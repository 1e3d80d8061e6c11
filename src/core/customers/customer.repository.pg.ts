import { sqlState, type PgQueryable } from '../db/pg/pg-database';
import {
  CustomerRefTakenError,
  INSERT_CUSTOMER_SQL,
  UPDATE_CUSTOMER_SQL,
  customerDuplicatesSql,
  customerFromRow,
  customerListItem,
  customerParams,
  customerSearchSql,
  type CustomerListItem,
  type CustomerListRow,
  type CustomerQuery,
  type CustomerRecord,
  type CustomerRepository,
  type CustomerRow,
  type DuplicateProbe,
  type NewCustomer,
} from './customer.repository';

// Customers on PostgreSQL (issue 12): the very statements SqliteCustomerRepository runs (built in
// customer.repository.ts), so a customer enrolled at one desk is found the same way at every other.

type Row = CustomerRow & Record<string, unknown>;

const refTaken = (err: unknown) =>
  sqlState(err) === '23505' && (err as { constraint?: unknown }).constraint === 'customers_customer_ref_key';

export class PgCustomerRepository implements CustomerRepository {
  constructor(private readonly db: PgQueryable) {}

  async get(id: number): Promise<CustomerRecord | null> {
    const [row] = await this.db.query<Row>('SELECT * FROM customers WHERE id = ?', [id]);
    return row ? customerFromRow(row) : null;
  }

  async insert(c: NewCustomer, by: { operator: string; at: string }): Promise<CustomerRecord> {
    try {
      const [row] = await this.db.query<Row>(INSERT_CUSTOMER_SQL, [...customerParams(c), by.at, by.operator, by.at]);
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      return customerFromRow(row);
    } catch (err) {
      if (refTaken(err)) throw new CustomerRefTakenError();
      throw err;
    }
  }

  async update(
    id: number,
    expectedVersion: number,
    c: NewCustomer,
    by: { operator: string; at: string },
  ): Promise<CustomerRecord | null> {
    try {
      const [row] = await this.db.query<Row>(UPDATE_CUSTOMER_SQL, [...customerParams(c), by.at, id, expectedVersion]);
      return row ? customerFromRow(row) : null;
    } catch (err) {
      if (refTaken(err)) throw new CustomerRefTakenError();
      throw err;
    }
  }

  async search(q: CustomerQuery): Promise<{ total: number; rows: CustomerListItem[] }> {
    const sql = customerSearchSql(q);
    const [total] = await this.db.query<{ n: number }>(sql.count, sql.params);
    const rows = await this.db.query<CustomerListRow & Record<string, unknown>>(sql.page, sql.pageParams);
    return { total: total?.n ?? 0, rows: rows.map(customerListItem) };
  }

  async possibleDuplicates(p: DuplicateProbe, excludeId: number | null, limit: number): Promise<CustomerRecord[]> {
    const sql = customerDuplicatesSql(p, excludeId, limit);
    if (!sql) return [];
    return (await this.db.query<Row>(sql.sql, sql.params)).map(customerFromRow);
  }
}
