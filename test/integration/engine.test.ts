import { describe, expect, it } from 'vitest';
import { freshWorkstation } from '../support/fresh-workstation';
import { testEngine } from '../support/test-engine';

// The PostgreSQL pass of `npm test` is only worth its minutes if the desks it opens really are on
// PostgreSQL: a helper that quietly fell back to a SQLite file would pass everything twice.
describe('the engine the tests run on', () => {
  it('freshWorkstation opens the desk on the engine OTAC_TEST_ENGINE names, and its look-up reads the same data', async () => {
    const t = await freshWorkstation();
    try {
      expect(t.ws.engine).toBe(testEngine);
      const [row] = await t.sql.all<{ n: number }>('SELECT count(*) AS n FROM schema_migrations');
      expect(Number(row?.n)).toBeGreaterThan(20);
    } finally {
      await t.dispose();
    }
  });
});
