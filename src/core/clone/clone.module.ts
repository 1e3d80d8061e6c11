import type { Core, FeatureModule } from '../feature-module';
import type { ListRepository } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import { cloneHandlers } from './clone.ipc';
import { CloneDetectionService } from './clone.service';

/**
 * Clone detection at the desk (source 003; docs/clone-detection.md): the card's authenticated
 * counters against the server's, the card's suspicion events, a flagged table disabled at once.
 */
export function cloneModule(
  core: Core,
  deps: { lists: ListService; listRepo: ListRepository },
): FeatureModule<ReturnType<typeof cloneHandlers>> & { readonly service: CloneDetectionService } {
  const service = new CloneDetectionService({
    readers: core.readers,
    keystore: core.keystore,
    cards: core.repos.cards,
    lists: deps.listRepo,
    listService: deps.lists,
    events: core.repos.verificationEvents,
    audit: core.audit,
    atomically: core.repos.atomically,
  });
  return { handlers: cloneHandlers({ service, events: core.events }), service };
}
