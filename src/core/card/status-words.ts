// ISO/IEC 7816-4 status words used by the OTAC profile (docs/card-profile.md section 4),
// with a short name for logs and an action a person can follow.

export interface StatusWordInfo {
  readonly name: string;
  readonly meaning: string;
  readonly action: string;
}

export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  SECURITY_NOT_SATISFIED: 0x6982,
  AUTH_BLOCKED: 0x6983,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  SM_DATA_INCORRECT: 0x6988,
  WRONG_DATA: 0x6a80,
  APPLET_NOT_FOUND: 0x6a82,
  NOT_ENOUGH_MEMORY: 0x6a84,
  WRONG_P1P2: 0x6a86,
  REFERENCED_DATA_NOT_FOUND: 0x6a88,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  LAST_COMMAND_EXPECTED: 0x6883,
  CHAINING_NOT_SUPPORTED: 0x6884,
  UNKNOWN: 0x6f00,
} as const;

const TABLE: ReadonlyMap<number, StatusWordInfo> = new Map<number, StatusWordInfo>([
  [0x9000, { name: 'OK', meaning: 'Command completed.', action: 'No action needed.' }],
  [
    0x6700,
    {
      name: 'wrong length',
      meaning: 'Lc or Le does not match the command.',
      action: 'This is a software fault in the workstation; report it.',
    },
  ],
  [
    0x6982,
    {
      name: 'security status not satisfied',
      meaning: 'PIN not verified, secure channel missing or closed, or a list/envelope failed authentication.',
      action: 'Verify the PIN or open a new secure session, then retry.',
    },
  ],
  [
    0x6983,
    {
      name: 'authentication method blocked',
      meaning: 'The retry counter of the PIN or activation key is exhausted.',
      action: 'The card is blocked: a manager must unblock it at the issuer workstation.',
    },
  ],
  [
    0x6985,
    {
      name: 'conditions of use not satisfied',
      meaning:
        'The card life cycle or list state does not allow this command (or a replayed/stale list, or a used code).',
      action: 'Check the card state in the reader panel; the card may need activation, a new list or replacement.',
    },
  ],
  [
    0x6988,
    {
      name: 'incorrect secure messaging data',
      meaning: 'A secure-messaging MAC or counter did not verify; the session is closed.',
      action: 'Open a new secure session and retry once; if it repeats, the card key may not match this card.',
    },
  ],
  [
    0x6a80,
    {
      name: 'incorrect data',
      meaning: 'The data field is malformed for this command.',
      action: 'This is a software fault in the workstation or a damaged list; report it.',
    },
  ],
  [
    0x6a82,
    {
      name: 'application not found',
      meaning: 'The OTAC applet is not on this card.',
      action: 'This is not an OTAC card: take a card from the OTAC stock.',
    },
  ],
  [
    0x6a84,
    {
      name: 'not enough memory',
      meaning: 'The staged list is larger than the card can hold.',
      action: 'Issue a shorter list.',
    },
  ],
  [
    0x6a86,
    {
      name: 'incorrect P1-P2',
      meaning: 'Parameter bytes out of range or chunk out of order.',
      action: 'Restart the operation from the beginning.',
    },
  ],
  [
    0x6a88,
    {
      name: 'referenced data not found',
      meaning: 'No such key version, code index or list; or no unused code left.',
      action: 'Check the card state; the list may be exhausted and need a refill.',
    },
  ],
  [
    0x6d00,
    {
      name: 'instruction not supported',
      meaning: 'The card does not know this INS.',
      action: 'The card profile version may be too old for this workstation.',
    },
  ],
  [
    0x6e00,
    {
      name: 'class not supported',
      meaning: 'The card does not accept this CLA.',
      action: 'This is a software fault in the workstation; report it.',
    },
  ],
  [
    0x6883,
    {
      name: 'last command of chain expected',
      meaning: 'A command chain was interrupted.',
      action: 'Restart the operation from the beginning.',
    },
  ],
  [
    0x6884,
    {
      name: 'command chaining not supported',
      meaning: 'The card refused a chained command.',
      action: 'Use a reader with extended-length support.',
    },
  ],
  [
    0x6f00,
    {
      name: 'no precise diagnosis',
      meaning: 'The card failed internally.',
      action: 'Remove and re-insert the card; if it repeats, replace the card.',
    },
  ],
]);

/** Name, meaning and advice for any status word, including the ranges 61xx, 6Cxx and 63Cx. */
export function describeStatusWord(sw: number): StatusWordInfo {
  const known = TABLE.get(sw);
  if (known) return known;
  const sw1 = (sw >> 8) & 0xff;
  const sw2 = sw & 0xff;
  if (sw1 === 0x61) {
    return {
      name: 'response bytes available',
      meaning: `${sw2 === 0 ? '256 or more' : sw2} bytes wait for GET RESPONSE.`,
      action: 'Handled by the workstation automatically.',
    };
  }
  if (sw1 === 0x6c) {
    return {
      name: 'wrong Le',
      meaning: `Re-issue the command with Le=${sw2 === 0 ? 256 : sw2}.`,
      action: 'Handled by the workstation automatically.',
    };
  }
  if (sw1 === 0x63 && (sw2 & 0xf0) === 0xc0) {
    const left = sw2 & 0x0f;
    return {
      name: 'verification failed',
      meaning: `Wrong PIN or key; ${left} tries left.`,
      action:
        left === 0
          ? 'The card is now blocked: a manager must unblock it.'
          : `Check the value and retry carefully (${left} left).`,
    };
  }
  return {
    name: 'unknown status',
    meaning: 'The card answered with a status word this profile does not define.',
    action: 'Remove and re-insert the card; if it repeats, report it.',
  };
}

/** 63Cx: the number of tries left, or undefined for any other status word. */
export function triesLeft(sw: number): number | undefined {
  return (sw & 0xfff0) === 0x63c0 ? sw & 0x0f : undefined;
}
