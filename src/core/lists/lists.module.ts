import type { Core, FeatureModule } from '../feature-module';
import { VerificationService } from '../verification/verification.service';
import type { ListRepository } from './list.repository';
import { ListService } from './list.service';
import { listsHandlers } from './lists.ipc';

/**
 * Code lists and the use of a code (issue 9 items 5, 7, 8): the list service the push builds on,
 * and `verify`, which the verification service of the next issue wraps. Both are returned so the
 * features built on them take these instances rather than making their own.
 */
export function listsModule(core: Core): FeatureModule<ReturnType<typeof listsHandlers>> & {
  readonly lists: ListService;
  readonly listRepo: ListRepository;
  readonly verification: VerificationService;
} {
  const cards = core.repos.cards;
  const repo = core.repos.lists;
  const lists = new ListService(repo, cards, core.policies, core.repos.atomically);
  const verification = new VerificationService(cards, repo, lists, core.keystore, core.audit, core.policies, {
    lockout: { failures: core.repos.failures },
    events: core.repos.verificationEvents,
    atomically: core.repos.atomically,
  });
  return { handlers: listsHandlers({ lists, cards, audit: core.audit }), lists, listRepo: repo, verification };
}
