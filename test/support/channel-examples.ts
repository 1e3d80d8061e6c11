import type { ChannelName } from '../../src/shared/contract';
import type { Role } from '../../src/shared/roles';
import { DEFAULT_POLICIES } from '../../src/core/policy/policy.service';
import type { ReaderMode } from '../../src/core/card/reader-setup';
import type { DeskWorkstation, WorkstationOptions } from '../../src/core/workstation';
import { awaitingTrainingCard, otherKey, prepareKeystore } from './activation-cards';
import { OFFICER } from './fresh-workstation';
import { deskSql } from './test-engine';
import {
  APPROVER_BACKUP_PASSPHRASE,
  BACKUP_PASSPHRASE,
  BACKUP_PASSPHRASES,
  COMPONENT_HEX,
  KEYSTORE_PASSPHRASE,
  TRANSPORT_COMPONENT_HEX,
  TRANSPORT_KCV,
  beginCeremony,
  beginTransportCeremony,
  componentKcv,
  createBackup,
  createKeystore,
  enterComponents,
  keystoreWithMasterKey,
  loadTransportKey,
} from './keys';
import { generateN } from '../../src/core/enrollment/identification-code';
import { addCustomer, cardReadIn, keystoreReadyToEnroll } from './enrollment';
import { approvalFor, approvalOf, value, type TestOperator } from './operators';
import { ADA } from './customers';
import { cardRow } from './cards';
import { cardAwaitingActivation } from './mailer';
import { VerifyClientService } from '../../src/core/verification/verify-client.service';
import { clientCertificateRequest } from './client-certificates';
import { cardWithCodes } from './verify-service';
import { reportedCase } from './support-cases';
import { passkeyIn, smsSink, supportOptions, type SmsSink } from './support-channels';
import { TestReissueGate } from './reissue-gate';
import { newBlankCard } from '../../src/card-sim/card-record';
import { VirtualCard } from '../../src/card-sim/virtual-card';
import { TRAINING_READER_NAME, TrainingReaderService } from '../../src/core/card/training-reader';

/** What an example's input builder gets: a workstation past first run, and who will make the call. */
export interface ExampleContext {
  readonly ws: DeskWorkstation;
  /** The first security officer, signed in on OFFICER_CLIENT (absent only for firstRun examples). */
  readonly officer: TestOperator;
  /** The caller, already signed in (absent for 'anonymous'). */
  readonly caller: TestOperator | null;
  addOperator(role: Role): Promise<TestOperator>;
}

export interface ChannelExample {
  /** The caller's role; 'anonymous' for public channels called before sign-in. */
  readonly as: Role | 'anonymous';
  /** Leave the workstation at first run (no operators yet). */
  readonly firstRun?: boolean;
  /** Card readers the workstation needs for this call (the in-process training reader for card workflows). */
  readonly readers?: ReaderMode;
  /** More workstation options the call needs (the support passkey's SMS gateway sink, a reissue gate). */
  readonly workstation?: () => Promise<Partial<Pick<WorkstationOptions, 'support' | 'reissueGate'>>>;
  /** The audit action the call writes; by default the channel name with ':' as '.'. */
  readonly auditAction?: string;
  /** Builds the state the call needs and returns a valid input. */
  readonly input: (ctx: ExampleContext) => unknown;
}

// The support case service is on another branch: the reissue example verifies its case in a TEST gate.
const reissueExampleGate = new TestReissueGate();

/** A blocked card of a verified case (test gate) and a blank card in the training reader. */
async function verifiedReissueCase(c: ExampleContext): Promise<{ caseId: number; reader: string }> {
  await prepareKeystore(c.ws, c.officer, await c.addOperator('security_officer'));
  const training = c.ws.readers;
  if (!(training instanceof TrainingReaderService)) throw new Error('the example needs readers: training');
  training.insert(new VirtualCard(newBlankCard()));
  const { card } = await cardRow(deskSql(c.ws).repos, { state: 'blocked' });
  return { caseId: reissueExampleGate.verified(card.customerId, card.id), reader: TRAINING_READER_NAME };
}

/**
 * A valid call for every state-changing channel. test/unit/audit/mutating-channels-audited.test.ts
 * fails for a `mutates: true` channel missing here, so a new feature adds its example in this map.
 */
export const channelExamples: Partial<Record<ChannelName, ChannelExample>> = {
  'auth:setupFirstOfficer': { as: 'anonymous', firstRun: true, input: () => OFFICER },
  'auth:signIn': {
    as: 'anonymous',
    input: async (c) => approvalOf(await c.addOperator('clerk')),
  },
  'auth:signOut': { as: 'clerk', input: () => ({}) },
  'auth:changePassword': {
    as: 'clerk',
    input: (c) => ({ currentPassword: c.caller?.password, newPassword: 'a brand new password' }),
  },
  'admin:createOperator': {
    as: 'security_officer',
    input: () => ({
      username: 'carla',
      displayName: 'Carla Clerk',
      role: 'clerk',
      temporaryPassword: 'temporary password 1',
    }),
  },
  'admin:updateRole': {
    as: 'security_officer',
    input: async (c) => ({ operatorId: (await c.addOperator('clerk')).id, role: 'support' }),
  },
  'admin:disableOperator': {
    as: 'security_officer',
    input: async (c) => ({ operatorId: (await c.addOperator('clerk')).id }),
  },
  'admin:enableOperator': {
    as: 'security_officer',
    input: async (c) => {
      const op = await c.addOperator('clerk');
      await c.ws.router.dispatch(c.officer.client, 'admin:disableOperator', { operatorId: op.id });
      return { operatorId: op.id };
    },
  },
  'admin:resetPassword': {
    as: 'security_officer',
    input: async (c) => ({ operatorId: (await c.addOperator('clerk')).id, temporaryPassword: 'temporary password 2' }),
  },
  'admin:unlockOperator': {
    as: 'manager',
    input: async (c) => {
      const op = await c.addOperator('clerk');
      for (let i = 0; i < DEFAULT_POLICIES.maxFailedSignIns; i++) {
        await c.ws.router.dispatch('somewhere', 'auth:signIn', { username: op.username, password: 'wrong' });
      }
      return {
        username: op.username,
        approval: await approvalFor(c.ws, c.caller as TestOperator, 'operator.unlock', c.officer),
      };
    },
  },
  'policy:update': {
    as: 'security_officer',
    input: async (c) => ({
      baseVersion: 0,
      policies: { ...DEFAULT_POLICIES, sessionTimeoutMinutes: 30 },
      approval: await approvalFor(c.ws, c.officer, 'policy.update', await c.addOperator('security_officer')),
    }),
  },
  // The audit key lives in the keystore: checkpoints on demand need it unlocked.
  'audit:checkpoint': { as: 'auditor', input: async (c) => (await createKeystore(c.ws, c.officer), {}) },
  // Keystore channels: the keystore writes its own audit actions (docs/keystore.md, "Audit actions").
  'keys:create': {
    as: 'security_officer',
    auditAction: 'keystore.created',
    input: () => ({ passphrase: KEYSTORE_PASSPHRASE }),
  },
  'keys:unlock': {
    as: 'security_officer',
    auditAction: 'keystore.opened',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      await c.ws.router.dispatch(c.officer.client, 'keys:lock', {});
      return { passphrase: KEYSTORE_PASSPHRASE };
    },
  },
  'keys:lock': {
    as: 'security_officer',
    auditAction: 'keystore.closed',
    input: async (c) => (await createKeystore(c.ws, c.officer), {}),
  },
  'keys:ceremonyBegin': {
    as: 'security_officer',
    auditAction: 'keystore.ceremony.begun',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      return {
        components: 2,
        approval: await approvalFor(c.ws, c.officer, 'keys.ceremony', await c.addOperator('security_officer')),
      };
    },
  },
  'keys:ceremonyEnterComponent': {
    as: 'security_officer',
    auditAction: 'keystore.ceremony.component_entered',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      await beginCeremony(c.ws, c.officer, await c.addOperator('security_officer'), 2);
      return {
        index: 1,
        component: COMPONENT_HEX[0],
        custodian: approvalOf(c.officer),
        expectedKcv: componentKcv(COMPONENT_HEX[0]),
      };
    },
  },
  'keys:ceremonyFinish': {
    as: 'security_officer',
    auditAction: 'keystore.ceremony.finished',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      const second = await c.addOperator('security_officer');
      await beginCeremony(c.ws, c.officer, second, 2);
      await enterComponents(c.ws, c.officer, COMPONENT_HEX.slice(0, 2), [c.officer, second]);
      return {};
    },
  },
  'keys:ceremonyAbort': {
    as: 'security_officer',
    auditAction: 'keystore.ceremony.aborted',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      await beginCeremony(c.ws, c.officer, await c.addOperator('security_officer'), 3);
      return {};
    },
  },
  'keys:transportBegin': {
    as: 'security_officer',
    auditAction: 'keystore.transport_ceremony.begun',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      return {
        components: 2,
        approval: await approvalFor(c.ws, c.officer, 'keys.ceremony', await c.addOperator('security_officer')),
      };
    },
  },
  'keys:transportEnterComponent': {
    as: 'security_officer',
    auditAction: 'keystore.transport_ceremony.component_entered',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      await beginTransportCeremony(c.ws, c.officer, await c.addOperator('security_officer'));
      return {
        index: 1,
        component: TRANSPORT_COMPONENT_HEX[0],
        custodian: approvalOf(c.officer),
        expectedKcv: componentKcv(TRANSPORT_COMPONENT_HEX[0]),
      };
    },
  },
  'keys:transportFinish': {
    as: 'security_officer',
    auditAction: 'keystore.transport_key.imported',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      const second = await c.addOperator('security_officer');
      await beginTransportCeremony(c.ws, c.officer, second);
      await enterComponents(
        c.ws,
        c.officer,
        TRANSPORT_COMPONENT_HEX,
        [c.officer, second],
        'keys:transportEnterComponent',
      );
      return { expectedKcv: TRANSPORT_KCV };
    },
  },
  'keys:transportAbort': {
    as: 'security_officer',
    auditAction: 'keystore.transport_ceremony.aborted',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      await beginTransportCeremony(c.ws, c.officer, await c.addOperator('security_officer'), 3);
      return {};
    },
  },
  'keys:transportRemove': {
    as: 'security_officer',
    auditAction: 'keystore.transport_key.removed',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      const second = await c.addOperator('security_officer');
      await loadTransportKey(c.ws, c.officer, second);
      return {
        reason: 'vendor key compromised',
        approval: await approvalFor(c.ws, c.officer, 'keys.ceremony', second),
      };
    },
  },
  'keys:generateMasterKey': {
    as: 'security_officer',
    auditAction: 'keystore.master_key.installed',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      return { approval: await approvalFor(c.ws, c.officer, 'keys.ceremony', await c.addOperator('security_officer')) };
    },
  },
  'keys:createBankCa': {
    as: 'security_officer',
    auditAction: 'keystore.bank_ca.created',
    input: async (c) => (await createKeystore(c.ws, c.officer), { commonName: 'Demo Bank CA' }),
  },
  'keys:createIssuerKey': {
    as: 'security_officer',
    auditAction: 'keystore.issuer_key.created',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      await c.ws.router.dispatch(c.officer.client, 'keys:createBankCa', { commonName: 'Demo Bank CA' });
      return { commonName: 'Demo Issuer' };
    },
  },
  'activation:activate': {
    as: 'clerk',
    readers: 'training',
    input: async (c) => {
      const { reader, awaiting } = await awaitingTrainingCard(c.ws, c.officer, await c.addOperator('security_officer'));
      return { reader, key: awaiting.mailerKey, pin: '2468', pinRepeat: '2468' };
    },
  },
  'activation:unblock': {
    as: 'manager',
    readers: 'training',
    input: async (c) => {
      const { reader } = await awaitingTrainingCard(c.ws, c.officer, await c.addOperator('security_officer'), 3);
      const manager = c.caller as TestOperator;
      const wrong = { reader, key: otherKey(), pin: '2468', pinRepeat: '2468' };
      for (let i = 0; i < 3; i++) await c.ws.router.dispatch(manager.client, 'activation:activate', wrong);
      return {
        reader,
        approval: await approvalFor(c.ws, manager, 'card.unblock', approvalOf(await c.addOperator('manager'))),
      };
    },
  },
  // An active card (its first list pushed by activation) with a refill queued: the push sends it.
  'push:pushNext': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'push.completed',
    input: async (c) => {
      const { reader, awaiting } = await activeTrainingCard(c, c.caller as TestOperator);
      const manager = await c.addOperator('manager');
      value(await c.ws.router.dispatch(manager.client, 'lists:requestRefill', { n: awaiting.record.n }));
      return { reader };
    },
  },
  // An active card in the training reader: the manager has it make its own key pair (public-key mode).
  'cards:setSealMode': {
    as: 'manager',
    readers: 'training',
    auditAction: 'cards.seal_mode',
    input: async (c) => {
      const { reader } = await activeTrainingCard(c, await c.addOperator('clerk'));
      return { reader, mode: 'public-key' };
    },
  },
  // An active card in the training reader: its authenticated counters against the server's (docs/clone-detection.md).
  'clone:compareCounters': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'clone.counters_compared',
    input: async (c) => {
      const { reader } = await activeTrainingCard(c, c.caller as TestOperator);
      return { reader };
    },
  },
  'clone:suspicions': {
    as: 'auditor',
    input: async (c) => {
      await cardRow(deskSql(c.ws).repos, { n: 'N-CLONE-1' });
      return { n: 'N-CLONE-1' };
    },
  },
  // An active card whose first list is active: the manager withdraws table 1 (a probable clone).
  'clone:disableTable': {
    as: 'manager',
    readers: 'training',
    auditAction: 'clone.table_disabled',
    input: async (c) => {
      const { awaiting } = await activeTrainingCard(c, await c.addOperator('clerk'));
      return { n: awaiting.record.n, seq: 1 };
    },
  },
  // A card with an open replay suspicion: support dismisses it.
  'clone:resolve': {
    as: 'support',
    auditAction: 'clone.suspicion_resolved',
    input: async (c) => {
      const { card } = await cardRow(deskSql(c.ws).repos, { n: 'N-CLONE-2' });
      const event = await deskSql(c.ws).repos.verificationEvents.raise({
        cardRef: card.id,
        listRef: null,
        kind: 'code_replayed',
        source: 'desk',
        at: new Date().toISOString(),
      });
      return { n: 'N-CLONE-2', id: event.id, resolution: 'dismissed' };
    },
  },
  // An active card (its first list pushed by activation) with a refill queued: it goes out by text message.
  'push:exportSms': {
    as: 'support',
    readers: 'training',
    auditAction: 'lists.sent_by_sms',
    input: async (c) => {
      const { awaiting } = await activeTrainingCard(c, await c.addOperator('clerk'));
      value(await c.ws.router.dispatch(c.caller!.client, 'lists:requestRefill', { n: awaiting.record.n }));
      return { n: awaiting.record.n };
    },
  },
  'cards:rotateKey': {
    as: 'support',
    readers: 'training',
    auditAction: 'cards.rotate_key',
    input: async (c) => {
      const { reader } = await awaitingTrainingCard(c.ws, c.officer, await c.addOperator('security_officer'));
      return { reader };
    },
  },
  'keys:retireCardKey': {
    as: 'security_officer',
    auditAction: 'keystore.card_key.retired',
    input: async (c) => {
      await keystoreWithMasterKey(c.ws, c.officer, await c.addOperator('security_officer'));
      await c.ws.keystore.current().cardKey('N-1001');
      return { n: 'N-1001', reason: 'card reported cloned' };
    },
  },
  'keys:backupCreate': {
    as: 'security_officer',
    auditAction: 'keystore.backup.written',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      return {
        passphrase: BACKUP_PASSPHRASE,
        approverPassphrase: APPROVER_BACKUP_PASSPHRASE,
        approval: await approvalFor(c.ws, c.officer, 'keys.backup', await c.addOperator('security_officer')),
      };
    },
  },
  'keys:backupRestore': {
    as: 'security_officer',
    auditAction: 'keystore.backup.restored',
    input: async (c) => {
      await createKeystore(c.ws, c.officer);
      const approver = await c.addOperator('security_officer');
      const { fileName } = await createBackup(c.ws, c.officer, approver);
      return {
        fileName,
        custodianPassphrases: [...BACKUP_PASSPHRASES],
        approval: await approvalFor(c.ws, c.officer, 'keys.restore', approver),
      };
    },
  },
  'customers:create': { as: 'clerk', auditAction: 'customer.create', input: () => ({ customer: ADA }) },
  'customers:update': {
    as: 'support',
    auditAction: 'customer.update',
    input: async (c) => {
      const made = value(
        await c.ws.router.dispatch((c.caller as TestOperator).client, 'customers:create', { customer: ADA }),
      ) as {
        customer: { id: number; version: number };
      };
      return { id: made.customer.id, version: made.customer.version, customer: { ...ADA, email: 'ada@new.example' } };
    },
  },
  // Enrollment runs on the training reader: the same reader API and events as PC/SC, in process.
  'enrollment:enroll': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'enrollment.completed',
    input: async (c) => {
      await keystoreReadyToEnroll(c.ws, c.officer, await c.addOperator('security_officer'));
      const customer = await addCustomer(c.ws);
      const drawer = value(await c.ws.router.dispatch(c.caller!.client, 'enrollment:trainingNewCard', {})) as {
        reader: string;
      };
      await cardReadIn(c.ws, c.caller!.client, drawer.reader);
      return { customerId: customer.id, reader: drawer.reader };
    },
  },
  'enrollment:retry': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'enrollment.completed',
    input: async (c) => {
      await keystoreReadyToEnroll(c.ws, c.officer, await c.addOperator('security_officer'));
      const customer = await addCustomer(c.ws);
      const client = c.caller!.client;
      const drawer = value(await c.ws.router.dispatch(client, 'enrollment:trainingNewCard', {})) as {
        reader: string;
        cards: { cardId: string }[];
      };
      await cardReadIn(c.ws, client, drawer.reader);
      // The app was killed after binding the card, before PERSONALISE: the row waits in `enrolling`.
      await deskSql(c.ws).repos.cards.insert(
        { cardId: drawer.cards[0]!.cardId, customerId: customer.id, n: generateN(), sealMode: 'card-key' },
        { operator: c.caller!.username, at: new Date().toISOString() },
      );
      return { reader: drawer.reader };
    },
  },
  'enrollment:trainingNewCard': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'enrollment.training.card_created',
    input: () => ({}),
  },
  'enrollment:trainingInsert': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'enrollment.training.card_inserted',
    input: async (c) => {
      const drawer = value(await c.ws.router.dispatch(c.caller!.client, 'enrollment:trainingNewCard', {})) as {
        cards: { cardId: string }[];
      };
      await c.ws.router.dispatch(c.caller!.client, 'enrollment:trainingRemove', {});
      return { cardId: drawer.cards[0]!.cardId };
    },
  },
  'enrollment:trainingRemove': {
    as: 'clerk',
    readers: 'training',
    auditAction: 'enrollment.training.card_removed',
    input: async (c) => {
      await c.ws.router.dispatch(c.caller!.client, 'enrollment:trainingNewCard', {});
      return {};
    },
  },
  'reissue:reissue': {
    as: 'support',
    readers: 'training',
    auditAction: 'reissue.completed',
    workstation: () => Promise.resolve({ reissueGate: reissueExampleGate }),
    input: (c) => verifiedReissueCase(c),
  },
  // A reissued case whose new card is in the post: a manager prints its emergency sheet, a second approves.
  'reissue:printEmergencySheet': {
    as: 'manager',
    readers: 'training',
    auditAction: 'reissue.emergency_printed',
    workstation: () => Promise.resolve({ reissueGate: reissueExampleGate }),
    input: async (c) => {
      const input = await verifiedReissueCase(c);
      const support = await c.addOperator('support');
      value(await c.ws.router.dispatch(support.client, 'reissue:reissue', input));
      const approver = approvalOf(await c.addOperator('manager'));
      return { caseId: input.caseId, approval: await approvalFor(c.ws, c.caller!, 'mailer.print', approver) };
    },
  },
  'lists:forCard': {
    as: 'clerk',
    input: async (c) => {
      await cardRow(deskSql(c.ws).repos, { n: 'N-LIST-1' }); // an active card, as activation leaves it
      return { n: 'N-LIST-1' };
    },
  },
  'lists:requestRefill': {
    as: 'manager',
    auditAction: 'lists.refill_requested',
    input: async (c) => {
      await cardRow(deskSql(c.ws).repos, { n: 'N-LIST-2' });
      return { n: 'N-LIST-2' };
    },
  },
  // The mailer: a card awaiting activation with its key series, as enrollment leaves it (docs/mailer.md).
  // The verification service's clients (docs/verification-service.md "At the desk").
  'verifyClients:create': {
    as: 'manager',
    auditAction: 'verify_client.created',
    input: async (c) => ({
      name: 'online-banking',
      scopes: ['verify'],
      approval: await approvalFor(c.ws, c.caller as TestOperator, 'verify_client.create', c.officer),
    }),
  },
  'verifyClients:issueCertificate': {
    as: 'manager',
    auditAction: 'verify_client.created',
    input: async (c) => {
      await keystoreReadyToEnroll(c.ws, c.officer, await c.addOperator('security_officer')); // the bank CA
      return {
        name: 'online-banking',
        scopes: ['verify', 'read'],
        csrPem: clientCertificateRequest().csrPem,
        approval: await approvalFor(c.ws, c.caller as TestOperator, 'verify_client.create', c.officer),
      };
    },
  },
  'verifyClients:revoke': {
    as: 'security_officer',
    auditAction: 'verify_client.revoked',
    input: async (c) => {
      const clients = new VerifyClientService(deskSql(c.ws).repos.verifyClients, deskSql(c.ws).audit);
      return { keyId: (await clients.create({ name: 'old-bank', scopes: ['read'], by: 'test' })).client.keyId };
    },
  },
  // A card the verification service locked out after wrong codes in a row.
  'verification:clearLockout': {
    as: 'support',
    auditAction: 'verification.failures_cleared',
    input: async (c) => ({ n: await lockedOutCard(c) }),
  },
  'mailer:print': {
    as: 'manager',
    auditAction: 'mailer.printed',
    input: async (c) => {
      await keystoreWithMasterKey(c.ws, c.officer, await c.addOperator('security_officer'));
      const { card } = await cardAwaitingActivation(c.ws);
      return {
        cardRef: card.id,
        approval: await approvalFor(c.ws, c.caller as TestOperator, 'mailer.print', c.officer),
      };
    },
  },
  'mailer:printBatch': {
    as: 'manager',
    auditAction: 'mailer.batch',
    input: async (c) => {
      await keystoreWithMasterKey(c.ws, c.officer, await c.addOperator('security_officer'));
      await cardAwaitingActivation(c.ws);
      return { approval: await approvalFor(c.ws, c.caller as TestOperator, 'mailer.print', c.officer) };
    },
  },
  'mailer:reprint': {
    as: 'manager',
    auditAction: 'mailer.reprinted',
    input: async (c) => {
      await keystoreWithMasterKey(c.ws, c.officer, await c.addOperator('security_officer'));
      const { card } = await cardAwaitingActivation(c.ws);
      const manager = c.caller as TestOperator;
      const approval = await approvalFor(c.ws, manager, 'mailer.print', c.officer);
      await c.ws.router.dispatch(manager.client, 'mailer:print', { cardRef: card.id, approval });
      return {
        cardRef: card.id,
        reason: 'lost in the post',
        approval: await approvalFor(c.ws, manager, 'mailer.reprint', c.officer),
      };
    },
  },
  // Support cases (docs/support.md): a card reported, a passkey texted to the gateway sink, read back,
  // and a case locked after wrong passkeys lifted by a manager's identity procedure.
  'support:report': {
    as: 'support',
    auditAction: 'support.reported',
    input: async (c) => {
      const { card } = await cardRow(deskSql(c.ws).repos, { n: 'N-SUPPORT-1' });
      return { n: card.n, reason: 'lost' };
    },
  },
  'support:sendPasskey': {
    as: 'support',
    auditAction: 'support.passkey_sent',
    workstation: withExampleSms,
    input: async (c) => ({ caseId: (await exampleCase(c)).caseId, channel: 'sms' }),
  },
  'support:enterPasskey': {
    as: 'support',
    auditAction: 'support.verified',
    workstation: withExampleSms,
    input: async (c) => {
      const { caseId } = await exampleCase(c);
      value(await c.ws.router.dispatch(c.caller!.client, 'support:sendPasskey', { caseId, channel: 'sms' }));
      return { caseId, passkey: passkeyIn((await exampleSms()).messages.at(-1)?.body.text ?? '') };
    },
  },
  'support:identityProcedure': {
    as: 'manager',
    auditAction: 'support.identity_procedure',
    workstation: withExampleSms,
    input: async (c) => {
      const { caseId } = await exampleCase(c);
      const manager = c.caller as TestOperator;
      value(await c.ws.router.dispatch(manager.client, 'support:sendPasskey', { caseId, channel: 'sms' }));
      for (let i = 0; i < 3; i++)
        await c.ws.router.dispatch(manager.client, 'support:enterPasskey', { caseId, passkey: '00000000' });
      const approval = await approvalFor(c.ws, manager, 'recovery.unlock', approvalOf(await c.addOperator('manager')));
      return { caseId, documentType: 'passport', documentRef: 'P7654321', approval };
    },
  },
};

/** A card enrolled in the training reader and activated by `clerk` (its first list pushed). */
async function activeTrainingCard(c: ExampleContext, clerk: TestOperator) {
  const card = await awaitingTrainingCard(c.ws, c.officer, await c.addOperator('security_officer'));
  const activate = { reader: card.reader, key: card.awaiting.mailerKey, pin: '2468', pinRepeat: '2468' };
  value(await c.ws.router.dispatch(clerk.client, 'activation:activate', activate));
  return card;
}

/** An active card with codes whose service lockout has tripped (wrong codes in a row). */
async function lockedOutCard(c: ExampleContext): Promise<string> {
  await prepareKeystore(c.ws, c.officer, await c.addOperator('security_officer'));
  const { card } = await cardWithCodes(c.ws);
  for (let i = 0; i < 5; i++) await c.ws.verification.verify(card.n, '000000');
  return card.n;
}

// One SMS gateway sink for every example that texts a passkey (it lives as long as the test process).
let sms: Promise<SmsSink> | null = null;
const exampleSms = () => (sms ??= smsSink());
async function withExampleSms() {
  return { support: supportOptions(null, await exampleSms()) };
}

/** A reported case on a desk whose keystore is ready (passkeys are tagged by the keystore). */
async function exampleCase(c: ExampleContext) {
  await prepareKeystore(c.ws, c.officer, await c.addOperator('security_officer'));
  return reportedCase(c.ws, c.caller as TestOperator);
}
