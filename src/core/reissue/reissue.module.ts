import type { ActivationService } from '../activation/activation.service';
import type { EnrollmentService } from '../enrollment/enrollment.service';
import type { Core, FeatureModule } from '../feature-module';
import type { ListRepository } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import type { SheetPrinter } from '../mailer/mailer-ports';
import { EmergencySheetService } from './emergency-sheet.service';
import type { ReissueGate } from './reissue-gate';
import { reissueHandlers } from './reissue.ipc';
import { ReissueService } from './reissue.service';

/**
 * Reissue of a reported card (issue 11 item 3): the support case's gate says when a case may be
 * reissued; the new card is enrolled through the enrollment service, its carried list queued through
 * the list service (pushed by the first-list step of activation), and a replaced card presented at
 * a desk is terminated through the activation's presentation hook.
 */
export function reissueModule(
  core: Core,
  deps: {
    gate: ReissueGate;
    enrollment: EnrollmentService;
    lists: ListService;
    listRepo: ListRepository;
    activation: ActivationService;
    /** The mailer's renderer and printer, for the emergency sheet. */
    sheets: SheetPrinter;
  },
): FeatureModule<ReturnType<typeof reissueHandlers>> & { readonly service: ReissueService } {
  const reissues = core.repos.reissues;
  const cards = core.repos.cards;
  const service = new ReissueService({
    gate: deps.gate,
    reissues,
    cards,
    listRepo: deps.listRepo,
    lists: deps.lists,
    enrollment: deps.enrollment,
    audit: core.audit,
    atomically: core.repos.atomically,
    log: core.log,
  });
  const sheets = new EmergencySheetService({
    reissues,
    cards,
    customers: core.repos.customers,
    listRepo: deps.listRepo,
    keystore: core.keystore,
    dualControl: core.dualControl,
    policies: core.policies,
    sheets: deps.sheets,
    audit: core.audit,
    atomically: core.repos.atomically,
  });
  const unhook = deps.activation.onPresented('terminate a replaced card', service.terminateReplaced);
  return { service, handlers: reissueHandlers(service, sheets, core.events), close: unhook };
}
