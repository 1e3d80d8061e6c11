import type { Migration } from '../migration';
import { migration0001 } from './0001-operators-and-audit.migration';
import { migration0002 } from './0002-policies-and-audit-checkpoints.migration';
import { migration0003 } from './0003-keystore.migration';
import { migration0004 } from './0004-timed-lockout.migration';
import { migration0005 } from './0005-password-provenance.migration';
import { migration0006 } from './0006-customers-and-cards.migration';
import { migration0007 } from './0007-customer-contact-indexes.migration';
import { migration0008 } from './0008-code-lists.migration';
import { migration0009 } from './0009-mailer-print-log.migration';
import { migration0010 } from './0010-card-public-key.migration';
import { migration0011 } from './0011-verification-service.migration';
import { migration0012 } from './0012-verification-events.migration';
import { migration0013 } from './0013-verify-challenges.migration';
import { migration0014 } from './0014-usage-review-indexes.migration';
import { migration0015 } from './0015-usage-indexes.migration';
import { migration0016 } from './0016-verify-client-certificates.migration';
import { migration0017 } from './0017-support-cases.migration';
import { migration0018 } from './0018-card-reissues.migration';
import { migration0019 } from './0019-usage-day-rollup.migration';
import { migration0020 } from './0020-support-case-holds-card.migration';
import { migration0021 } from './0021-support-case-contacts.migration';
import { migration0022 } from './0022-usage-rollup-by-day.migration';
import { migration0023 } from './0023-session-epoch-and-chain-head.migration';
import { migration0024 } from './0024-support-case-passkey-sends.migration';

/** Every migration the code knows, in order. A new one is a new file plus one line here. */
export const migrations: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  migration0007,
  migration0008,
  migration0009,
  migration0010,
  migration0011,
  migration0012,
  migration0013,
  migration0014,
  migration0015,
  migration0016,
  migration0017,
  migration0018,
  migration0019,
  migration0020,
  migration0021,
  migration0022,
  migration0023,
  migration0024,
];
