import type { ActivationService } from '../activation/activation.service';
import type { Core, FeatureModule } from '../feature-module';
import type { ListRepository } from '../lists/list.repository';
import type { ListService } from '../lists/list.service';
import { pushHandlers, pushProgressTo } from './push.ipc';
import { PushService } from './push.service';
import { SealModeService } from './seal-mode.service';
import { SmsExportService } from './sms-export.service';

/**
 * The push of code lists over the reader, and the first list that follows activation at once
 * (source 001 [0022]): activation queues it and pushes it while the card is still at the desk.
 */
export function pushModule(
  core: Core,
  deps: { lists: ListService; listRepo: ListRepository; activation: ActivationService },
): FeatureModule<ReturnType<typeof pushHandlers>> {
  const cards = core.repos.cards;
  const sealMode = new SealModeService({
    readers: core.readers,
    keystore: core.keystore,
    cards,
    audit: core.audit,
    atomically: core.repos.atomically,
  });
  const service = new PushService({
    readers: core.readers,
    keystore: core.keystore,
    cards,
    listRepo: deps.listRepo,
    lists: deps.lists,
    audit: core.audit,
    atomically: core.repos.atomically,
  });
  // The remote refill package of docs/remote-refill.md: the same list and envelope, by text message.
  const sms = new SmsExportService({
    keystore: core.keystore,
    cards,
    listRepo: deps.listRepo,
    lists: deps.lists,
    audit: core.audit,
    atomically: core.repos.atomically,
  });
  const unhook = deps.activation.afterActivation('first list', async (card) => {
    await deps.lists.queueNext(card.cardRecordId, 'first', card.actor);
    // The activating window sees the first push's progress as it sees any other push.
    const progress = card.clientId ? pushProgressTo(core.events, card.clientId, card.reader) : undefined;
    const pushed = await service.pushNext(card.reader, card.actor, progress);
    return { message: pushed.seq ? `List ${pushed.seq} is on the card.` : 'No list was waiting for this card.' };
  });
  return { handlers: pushHandlers({ service, sealMode, sms, events: core.events }), close: unhook };
}
