import type { dualControlChannels } from '../../shared/contract/dual-control.contract';
import type { HandlersFor } from '../rpc/router';
import type { DualControlService } from './dual-control.service';

export function dualControlHandlers(dualControl: DualControlService): HandlersFor<typeof dualControlChannels> {
  return {
    'approval:begin': (input, ctx) => dualControl.begin(ctx.session, input.action),
  };
}
