import type { z } from 'zod';
import { activationChannels } from './activation.contract';
import { adminChannels } from './admin.contract';
import { auditChannels } from './audit.contract';
import { authChannels } from './auth.contract';
import { cloneChannels } from './clone.contract';
import { customersChannels } from './customers.contract';
import { dualControlChannels } from './dual-control.contract';
import { enrollmentChannels } from './enrollment.contract';
import { keysChannels } from './keys.contract';
import { listsChannels } from './lists.contract';
import { mailerChannels } from './mailer.contract';
import { pushChannels } from './push.contract';
import { policyChannels } from './policy.contract';
import { readerChannels } from './reader.contract';
import { supportChannels } from './support.contract';
import { reissueChannels } from './reissue.contract';
import { systemChannels } from './system.contract';
import { verifyDeskChannels } from './verify-desk.contract';
import { usageChannels } from './usage.contract';

export * from './define';
export * from './events.contract';

/**
 * The one contract between renderer and main. Each feature declares its channels in its own
 * file (`domain:verb` names) and adds one spread here.
 */
export const contract = {
  ...authChannels,
  ...systemChannels,
  ...adminChannels,
  ...policyChannels,
  ...dualControlChannels,
  ...auditChannels,
  ...keysChannels,
  ...readerChannels,
  ...customersChannels,
  ...enrollmentChannels,
  ...listsChannels,
  ...mailerChannels,
  ...pushChannels,
  ...activationChannels,
  ...cloneChannels,
  ...verifyDeskChannels,
  ...usageChannels,
  ...supportChannels,
  ...reissueChannels,
} as const;

export type Contract = typeof contract;
export type ChannelName = keyof Contract;
export type ChannelInput<C extends ChannelName> = z.input<Contract[C]['input']>;
export type ChannelArgs<C extends ChannelName> = z.output<Contract[C]['input']>;
export type ChannelOutput<C extends ChannelName> = z.output<Contract[C]['output']>;

export function isChannelName(name: unknown): name is ChannelName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(contract, name);
}
