import type { Migration } from '../migration';
import { migration0001 } from './0001-operators-and-audit.migration';
import { migration0002 } from './0002-policies-and-audit-checkpoints.migration';
import { migration0003 } from './0003-keystore.migration';
import { migration0004 } from './0004-timed-lockout.migration';
import { migration0005 } from './0005-password-provenance.migration';
import { migration0006 } from './0006-customers-and-cards.migration';
import { migration0009 } from './0009-code-lists.migration';

/** Every migration the code knows, in order. A new one is a new file plus one line here. */
export const migrations: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  // Branch i9-lists only: 0007 and 0008 belong to other issue-9 branches; these empty stand-ins keep
  // the numbering whole until they merge, and are deleted then (the merged 0007/0008 take their place).
  { version: 7, name: 'reserved-0007', up: () => undefined },
  { version: 8, name: 'reserved-0008', up: () => undefined },
  migration0009,
];
