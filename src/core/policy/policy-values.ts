import { policiesSchema, type PolicyValues } from '../../shared/contract/policy.contract';
import { AppError } from '../errors';

export type Policies = Readonly<PolicyValues>;

export const DEFAULT_POLICIES: Policies = {
  maxFailedSignIns: 5,
  lockoutMinutes: 15,
  lockoutMaxMinutes: 1440,
  sessionTimeoutMinutes: 15,
  listLength: 100,
  codeDigits: 6,
  refillThreshold: 10,
  verifyLookAhead: 10,
  listExpiryDays: 365,
  emergencyListLength: 10,
  emergencyListDays: 14,
  pinRetries: 3,
  activationRetries: 5,
  passkeyLength: 8,
  passkeyAlphabet: 'base32-crockford',
  passkeyMaxFailures: 3,
  passkeyMaxSends: 5,
  passkeyLifetimeMinutes: 15,
  auditCheckpointEvery: 100,
  approverResetWindowHours: 24,
  dualControl: {
    'operator.unlock': { required: true, approverRoles: ['manager', 'security_officer'] },
    'policy.update': { required: true, approverRoles: ['security_officer'] },
    'mailer.print': { required: true, approverRoles: ['manager', 'security_officer'] },
    'mailer.reprint': { required: true, approverRoles: ['manager', 'security_officer'] },
    'keys.ceremony': { required: true, approverRoles: ['security_officer'] },
    'keys.rotate': { required: true, approverRoles: ['security_officer'] },
    'keys.backup': { required: true, approverRoles: ['security_officer'] },
    'keys.restore': { required: true, approverRoles: ['security_officer'] },
    'recovery.unlock': { required: true, approverRoles: ['manager'] },
    'operator.privileged': { required: true, approverRoles: ['security_officer'] },
    'card.unblock': { required: true, approverRoles: ['manager', 'security_officer'] },
    'verify_client.create': { required: true, approverRoles: ['manager', 'security_officer'] },
  },
};

/** Validates a policy object with the contract's bounds; used on write and on read. */
export function parsePolicies(value: unknown): Policies {
  const parsed = policiesSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new AppError(
      'POLICY_INVALID',
      `Policy not accepted: ${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}
