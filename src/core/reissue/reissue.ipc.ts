import type { reissueChannels } from '../../shared/contract/reissue.contract';
import type { Session } from '../auth/session.store';
import type { KeystoreActor } from '../keystore/keystore-holder.service';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { EmergencySheetService } from './emergency-sheet.service';
import type { ReissueService } from './reissue.service';

const actorOf = (s: Session): KeystoreActor => ({ operatorId: s.operatorId, operator: s.username, role: s.role });

/** The reissue channels onto the service; the enrollment's progress goes to the window that asked. */
export function reissueHandlers(
  service: ReissueService,
  sheets: EmergencySheetService,
  events: EventBus,
): HandlersFor<typeof reissueChannels> {
  return {
    'reissue:reissue': async ({ caseId, reader }, ctx) => {
      const result = await service.reissue({ caseId, reader }, actorOf(ctx.session), (step) =>
        events.emitTo(ctx.clientId, 'enrollment:progress', { reader, step }),
      );
      events.emit('data:changed', { domains: ['cards', 'activation'] });
      return result;
    },
    'reissue:printEmergencySheet': (input, ctx) => sheets.print(ctx.session, input),
    'reissue:status': ({ caseId }) => service.status(caseId),
  };
}
