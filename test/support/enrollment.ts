import { DEV_VENDOR_TRANSPORT_MASTER_KEY } from '../../src/card-sim/dev-transport-key';
import type { CustomerRecord } from '../../src/core/customers/customer.repository';
import { customerRow } from './cards';
import type { DeskWorkstation } from '../../src/core/workstation';
import { deskSql } from './test-engine';
import type { ReaderSnapshot } from '../../src/shared/contract';
import { keystoreWithMasterKey } from './keys';
import { value, type TestOperator } from './operators';

// What enrollment needs on a fresh workstation: an open keystore with a master key, the bank CA
// (its public key goes onto the card) and the card vendor's transport master key (development
// stock's well-known one, imported by two officers as docs/keystore.md requires), and a customer.

export async function keystoreReadyToEnroll(
  ws: DeskWorkstation,
  officer: TestOperator,
  approver: TestOperator,
): Promise<void> {
  await keystoreWithMasterKey(ws, officer, approver);
  value(await ws.router.dispatch(officer.client, 'keys:createBankCa', { commonName: 'Test Bank CA' }));
  await ws.keystore.current().importTransportMasterKey(DEV_VENDOR_TRANSPORT_MASTER_KEY, {
    officer: officer.username,
    approver: approver.username,
    reason: 'development card stock',
  });
}

export async function addCustomer(ws: DeskWorkstation, fullName = 'Erika Mustermann'): Promise<CustomerRecord> {
  return customerRow(deskSql(ws).repos, {
    fullName,
    address: { line1: 'Hauptstraße 1', line2: null, postalCode: '10115', city: 'Berlin', country: 'DE' },
    branch: 'Mitte',
  });
}

/** Waits until the workstation's reader monitor has read the card in `reader` (so nothing else holds it). */
export async function cardReadIn(
  ws: DeskWorkstation,
  client: string,
  reader: string,
  timeoutMs = 8000,
): Promise<NonNullable<ReaderSnapshot['readers'][number]['card']>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snap = value(await ws.router.dispatch(client, 'reader:status', {})) as ReaderSnapshot;
    const r = snap.readers.find((x) => x.name === reader);
    if (r?.card && r.cardPresent) return r.card;
    if (Date.now() > deadline) throw new Error(`no card read in ${reader}: ${JSON.stringify(snap)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
