import type { enrollmentChannels } from '../../shared/contract/enrollment.contract';
import type { AuditTrail } from '../audit/audit.service';
import type { Session } from '../auth/session.store';
import { AppError } from '../errors';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { CustomerPicker } from './customer-picker.repository';
import type { EnrollmentService } from './enrollment.service';
import type { TrainingStock } from './training-stock';

export interface EnrollmentHandlerDeps {
  readonly service: EnrollmentService;
  readonly customers: CustomerPicker;
  readonly events: EventBus;
  readonly audit: AuditTrail;
  /** Only in training mode (OTAC_READER=training). */
  readonly training: TrainingStock | null;
}

const actorOf = (s: Session): KeystoreActor => ({ operatorId: s.operatorId, operator: s.username, role: s.role });

export function enrollmentHandlers(deps: EnrollmentHandlerDeps): HandlersFor<typeof enrollmentChannels> {
  const { service, events } = deps;
  const training = (): TrainingStock => {
    if (!deps.training) {
      throw new AppError(
        'TRAINING_MODE_OFF',
        'Practice cards exist only in training mode. Start the workstation with OTAC_READER=training to practise.',
      );
    }
    return deps.training;
  };
  const drawer = () => {
    const t = training();
    return { reader: t.readerName, cards: t.list() };
  };
  const trainingAudit = (s: Session, action: string, object: string | null) =>
    deps.audit.append({ ...actorOf(s), action, object, outcome: 'ok' });

  return {
    'enrollment:findCustomers': ({ query }) => deps.customers.search(query, 20),
    'enrollment:status': ({ reader }) => service.inspect(reader),
    'enrollment:enroll': ({ customerId, reader, cardId }, ctx) =>
      service.enroll({ customerId, reader, ...(cardId ? { cardId } : {}) }, actorOf(ctx.session), (step) =>
        events.emitTo(ctx.clientId, 'enrollment:progress', { reader, step }),
      ),
    'enrollment:retry': ({ reader, cardId }, ctx) =>
      service.retry({ reader, ...(cardId ? { cardId } : {}) }, actorOf(ctx.session), (step) =>
        events.emitTo(ctx.clientId, 'enrollment:progress', { reader, step }),
      ),
    'enrollment:trainingDrawer': () => drawer(),
    'enrollment:trainingNewCard': async (_input, ctx) => {
      const card = training().newBlankCard();
      await trainingAudit(ctx.session, 'enrollment.training.card_created', card.cardId);
      return drawer();
    },
    'enrollment:trainingInsert': async ({ cardId }, ctx) => {
      const card = training().insert(cardId);
      await trainingAudit(ctx.session, 'enrollment.training.card_inserted', card.cardId);
      return drawer();
    },
    'enrollment:trainingRemove': async (_input, ctx) => {
      training().remove();
      await trainingAudit(ctx.session, 'enrollment.training.card_removed', null);
      return drawer();
    },
  };
}
