import type { Migration } from '../migration';

// MERGE NOTE: a stand-in for the lockout helper's 0004 so this branch's numbering has no gap.
// Delete this file and its line in index.ts when that branch's 0004 is merged.
export const migration0004: Migration = {
  version: 4,
  name: 'placeholder-for-lockout',
  up() {},
};
