// Numbers of the OTAC card profile, version 1. docs/card-profile.md is the normative text;
// this file must match it byte for byte.

/** Proprietary (ISO 7816-5 category F) AID: F0 'OTAC' 00 01. */
export const OTAC_AID = Buffer.from('f04f5441430001', 'hex');
export const PROFILE_VERSION = 1;

export const CLA_ISO = 0x00;
export const CLA_PLAIN = 0x80;
export const CLA_SM = 0x84;

// All INS are even and outside 6X/9X (ISO 7816-3 T=0 procedure bytes).
export const INS = {
  SELECT: 0xa4,
  GET_RESPONSE: 0xc0,
  VERIFY: 0x20,
  CHANGE_PIN: 0x24,
  RESET_RETRY_COUNTER: 0x2c,
  ACTIVATE: 0x30,
  NEXT_CODE: 0x40,
  CODE_BY_INDEX: 0x42,
  CHALLENGE_RESPONSE: 0x44,
  GENERATE_KEY_PAIR: 0x46,
  OPEN_SESSION: 0x50,
  STAGE_LIST: 0x52,
  COMMIT_LIST: 0x54,
  GET_RECEIPT: 0x56,
  GET_STATE: 0xca,
  ROTATE_KEY: 0xd2,
  PERSONALISE: 0xe0,
  TERMINATE: 0xfe,
} as const;

/** P2 of VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER: the applet-local PIN. */
export const PIN_REFERENCE = 0x80;

export const CR_WITH_CODE = 0x01;
export const CR_WITH_CARD_KEY = 0x02;

export const LIFE_CYCLE = {
  blank: 0x01,
  personalised: 0x03,
  active: 0x07,
  blocked: 0x83,
  terminated: 0xff,
} as const;
export type LifeCycle = keyof typeof LIFE_CYCLE;

export function lifeCycleFromByte(b: number): LifeCycle | undefined {
  return (Object.keys(LIFE_CYCLE) as LifeCycle[]).find((k) => LIFE_CYCLE[k] === b);
}

/** GET STATE / SELECT tags (private class, primitive). */
export const TAG = {
  FCI: 0x6f,
  FCI_AID: 0x84,
  FCI_PROPRIETARY: 0xa5,
  LIFE_CYCLE: 0xc0,
  CARD_ID: 0xc1,
  PROFILE_VERSION: 0xc2,
  N: 0xc3,
  KEY_VERSION: 0xc4,
  PIN_TRIES: 0xc5,
  ACTIVATION_TRIES: 0xc6,
  LIST_ID: 0xc7,
  LIST_SEQ: 0xc8,
  LIST_EXPIRY: 0xc9,
  LIST_ENTRIES: 0xca,
  LIST_REMAINING: 0xcb,
  LIST_THRESHOLD: 0xcc,
  FLAGS: 0xcd,
  LAST_LIST_SEQ: 0xce,
  CODES_ISSUED: 0xd0,
  WRONG_PINS: 0xd1,
  CHALLENGE_RESPONSES: 0xd2,
  LISTS_COMMITTED: 0xd3,
  CODES_BY_INDEX: 0xd4,
  MAX_COMMAND_DATA: 0xd5,
  CAPABILITIES: 0xd6,
} as const;

export const FLAG = {
  LOW_CODES: 0x01,
  KEY_PAIR: 0x02,
  PIN_VERIFIED: 0x04,
  SESSION_OPEN: 0x08,
} as const;

export const CAPABILITY_EXTENDED_LENGTH = 0x01;

export const CARD_ID_LENGTH = 8;
export const CHALLENGE_LENGTH = 16;
export const AES_KEY_LENGTH = 16;
export const MAC_LENGTH = 16;
export const EC_POINT_LENGTH = 65;
export const PIN_BLOCK_LENGTH = 8;
export const KCV_LENGTH = 3;
export const RSA_MODULUS_LENGTH = 256;
export const TRANSPORT_KEY_VERSION = 0;

/** Card limits the virtual card implements; a Java Card vendor may choose larger ones. */
export const MAX_STAGED_BYTES = 32_768;
export const MAX_COMMAND_DATA = 32_767;
export const MAX_LIST_ENTRIES = 1000;
