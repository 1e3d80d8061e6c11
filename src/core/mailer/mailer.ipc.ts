import type { mailerChannels } from '../../shared/contract/mailer.contract';
import type { EventBus } from '../rpc/event-bus';
import type { HandlersFor } from '../rpc/router';
import type { MailerService } from './mailer.service';

/** The mailer channels: answers carry serials, N and key series, never K (docs/mailer.md). */
export function mailerHandlers(mailer: MailerService, events: EventBus): HandlersFor<typeof mailerChannels> {
  const changed = <T>(value: T): T => {
    events.emit('data:changed', { domains: ['mailers'] });
    return value;
  };
  return {
    'mailer:queue': async () => ({
      entries: await mailer.queue(),
      destination: mailer.destination,
      rendererReady: mailer.rendererReady,
      batch: await mailer.batchCounts(),
    }),
    'mailer:print': async (input, ctx) => changed(await mailer.print(ctx.session, input)),
    'mailer:reprint': async (input, ctx) => changed(await mailer.reprint(ctx.session, input)),
    // Progress goes to the desk that runs the batch only; the others see the queue change.
    'mailer:printBatch': async (input, ctx) =>
      changed(
        await mailer.printBatch(ctx.session, input, (p) => {
          events.emitTo(ctx.clientId, 'mailer:progress', p);
          events.emit('data:changed', { domains: ['mailers'] });
        }),
      ),
    'mailer:log': async (input) => {
      const { rows, total } = await mailer.page(input);
      return {
        total,
        rows: rows.map((r) => ({
          serial: r.serial,
          cardRef: r.cardRef,
          n: r.n,
          keySn: r.keySn,
          kind: r.kind,
          reason: r.reason,
          operator: r.operator,
          approver: r.approver,
          batch: r.batch,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          result: r.result,
          errorCode: r.errorCode,
        })),
      };
    },
  };
}
