import type { VerifyClientView, verifyDeskChannels } from '../../shared/contract/verify-desk.contract';
import type { AuditTrail } from '../audit/audit.service';
import type { CardRepository } from '../cards/card.repository';
import type { DualControlService } from '../dual-control/dual-control.service';
import { AppError } from '../errors';
import type { ListService } from '../lists/list.service';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { ClientCertificateService, VerifyClientCredential } from './client-certificate.service';
import type { VerificationService } from './verification.service';
import type { VerifyClient, VerifyClientService } from './verify-client.service';

// The desk's side of the verification service (docs/verification-service.md "At the desk"): its
// clients, made by a manager under dual control `verify_client.create` and revoked by one person at
// once; and per card, the lockout and the refill state the service's use left.

export interface VerifyDeskDeps {
  readonly clients: VerifyClientService;
  readonly certificates: ClientCertificateService;
  readonly verification: Pick<VerificationService, 'failureState' | 'clearFailures'>;
  readonly lists: Pick<ListService, 'forCard'>;
  readonly cards: Pick<CardRepository, 'byN'>;
  readonly dualControl: DualControlService;
  readonly audit: AuditTrail;
  readonly events: EventBus;
}

/** Lists on their way to the card: a refill is queued. */
const ON_ITS_WAY = new Set(['prepared', 'staged', 'committed', 'receipt_verified']);

const view = (c: VerifyClient, cred: VerifyClientCredential | undefined): VerifyClientView => ({
  keyId: c.keyId,
  name: c.name,
  scopes: [...c.scopes],
  credential: cred?.credential ?? 'api_key',
  certSerial: cred?.certSerial ?? null,
  certNotAfter: cred?.certNotAfter ?? null,
  createdAt: c.createdAt,
  createdBy: c.createdBy,
  revokedAt: c.revokedAt,
});

export function verifyDeskHandlers(deps: VerifyDeskDeps): HandlersFor<typeof verifyDeskChannels> {
  const changed = <T>(domain: 'verifyClients' | 'verification', value: T): T => {
    deps.events.emit('data:changed', { domains: [domain] });
    return value;
  };
  const credentialOf = async (keyId: string) => (await deps.certificates.credentials()).find((c) => c.keyId === keyId);
  const cardOf = async (n: string) => {
    const card = await deps.cards.byN(n);
    if (!card)
      throw new AppError(
        'CARD_UNKNOWN',
        `No card has the identification code ${n}. Check N on the card or the mailer.`,
      );
    return card;
  };
  return {
    'verifyClients:list': async () => {
      const creds = new Map((await deps.certificates.credentials()).map((c) => [c.keyId, c]));
      return { clients: (await deps.clients.list()).map((c) => view(c, creds.get(c.keyId))) };
    },
    'verifyClients:create': async (input, ctx) => {
      // The approval is checked (and used up) before anything is made; a refusal makes nothing.
      await deps.dualControl.require('verify_client.create', ctx.session, input.approval, {
        name: input.name,
        scopes: input.scopes,
      });
      const made = await deps.clients.create({ name: input.name, scopes: input.scopes, by: ctx.session.username });
      return changed('verifyClients', { client: view(made.client, undefined), apiKey: made.apiKey });
    },
    'verifyClients:issueCertificate': async (input, ctx) => {
      const approver = await deps.dualControl.require('verify_client.create', ctx.session, input.approval, {
        name: input.name,
        scopes: input.scopes,
        csrPem: input.csrPem,
      });
      const issued = await deps.certificates.issue({
        name: input.name,
        scopes: input.scopes,
        csrPem: input.csrPem,
        ...(input.validDays ? { validDays: input.validDays } : {}),
        actor: { operatorId: ctx.session.operatorId, operator: ctx.session.username, role: ctx.session.role },
        approver: approver?.username ?? null,
      });
      return changed('verifyClients', {
        client: view(issued.client, await credentialOf(issued.client.keyId)),
        certificatePem: issued.certificatePem,
        serial: issued.serial,
        fingerprint: issued.fingerprint,
        notAfter: issued.notAfter,
      });
    },
    'verifyClients:revoke': async (input, ctx) => {
      const revoked = await deps.clients.revoke(input.keyId, ctx.session.username);
      return changed('verifyClients', view(revoked, await credentialOf(revoked.keyId)));
    },
    'verification:cardStatus': async (input) => {
      const card = await cardOf(input.n);
      const failures = await deps.verification.failureState(card.n);
      const lists = await deps.lists.forCard(card.id);
      const active = lists.find((l) => l.state === 'active');
      const refill = lists.some((l) => ON_ITS_WAY.has(l.state)) ? 'queued' : active?.refillDue ? 'due' : 'none';
      return {
        n: card.n,
        failures:
          failures && (failures.consecutive > 0 || failures.lockedAt)
            ? { consecutive: failures.consecutive, lastFailureAt: failures.lastFailureAt, lockedAt: failures.lockedAt }
            : null,
        refill,
        remaining: active ? active.length - (active.nextIndex - 1) : null,
      };
    },
    'verification:clearLockout': async (input, ctx) => {
      const card = await cardOf(input.n);
      const actor = { operatorId: ctx.session.operatorId, operator: ctx.session.username, role: ctx.session.role };
      const cleared = await deps.verification.clearFailures(card.n, actor);
      if (!cleared)
        throw new AppError(
          'LOCKOUT_NOTHING_TO_CLEAR',
          `Card ${card.n} has no failed codes to clear. Nothing was changed.`,
        );
      return changed('verification', { cleared });
    },
  };
}
