import type { Role } from '../../shared/roles';

// How far a role reaches over other operators' accounts: unlocking an operator needs an initiator and
// an approver ranked at least as high as that operator. Auditors rank lowest: they review, they do not act.
const ROLE_RANK: Record<Role, number> = { auditor: 0, clerk: 1, support: 1, manager: 2, security_officer: 3 };

export function ranksAtLeast(role: Role, other: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[other];
}
