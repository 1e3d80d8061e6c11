import { z } from 'zod';
import { approvalSchema } from './approval.contract';
import { passwordSchema, usernameSchema } from './auth.contract';
import { channel, done, nonEmpty, none, text } from './define';

// The keystore over the contract: states, key check values and public material only. Key bytes
// never cross it; a ceremony component goes in once and is never echoed back.

const OFFICERS = ['security_officer'] as const;
const READERS = ['security_officer', 'auditor'] as const;

export const kcvSchema = z.string().regex(/^[0-9A-F]{6}$/);
const expectedKcv = z
  .string()
  .trim()
  .regex(/^[0-9A-Fa-f]{6}$/, 'A check value is 6 hexadecimal characters')
  .transform((s) => s.toUpperCase());

/** Card identification code N, as the keystore accepts it. */
export const cardNSchema = z
  .string()
  .trim()
  .regex(/^[0-9A-Za-z-]{1,64}$/, 'The identification code holds 1 to 64 letters, digits or dashes');

// Custodians may type the sheet's groups with spaces or dashes; only the 64 hex digits count.
const componentSchema = z
  .string()
  .max(120, 'A component is 64 hexadecimal characters (32 bytes)')
  .transform((s) => s.replace(/[\s-]/g, ''))
  .pipe(z.string().regex(/^[0-9a-fA-F]{64}$/, 'A component is 64 hexadecimal characters (32 bytes)'));

// The vendor transport key (AES-128) comes on the vendor's sheets as 32 hex digits per component.
const transportComponentSchema = z
  .string()
  .max(80, 'A transport key component is 32 hexadecimal characters (16 bytes)')
  .transform((s) => s.replace(/[\s-]/g, ''))
  .pipe(z.string().regex(/^[0-9a-fA-F]{32}$/, 'A transport key component is 32 hexadecimal characters (16 bytes)'));

/** One officer's component, signed with their own credentials (a security officer). */
const custodianSchema = z.object({ username: usernameSchema, password: passwordSchema }).strict();

export const keystoreStateSchema = z.enum(['not-created', 'locked', 'unlocked']);
export type KeystoreStateName = z.infer<typeof keystoreStateSchema>;

const versioned = z.object({ version: z.number().int(), kcv: kcvSchema });
export const ceremonyProgressSchema = z.object({
  components: z.union([z.literal(2), z.literal(3)]),
  entered: z.array(z.number().int()),
});
export type CeremonyProgressInfo = z.infer<typeof ceremonyProgressSchema>;

export const keystoreStatusSchema = z.object({
  state: keystoreStateSchema,
  backend: z.enum(['software', 'pkcs11']),
  masterKey: versioned.nullable(),
  issuerKey: versioned.nullable(),
  bankCa: z.object({ kcv: kcvSchema }).nullable(),
  /** The card vendor's transport master key, when loaded: blank cards can be personalised. */
  transportKey: versioned.nullable(),
  ceremony: ceremonyProgressSchema.nullable(),
  /** The vendor transport key ceremony in progress, if any. */
  transportCeremony: ceremonyProgressSchema.nullable(),
});
export type KeystoreStatusInfo = z.infer<typeof keystoreStatusSchema>;

export const keyInfoSchema = z.object({
  id: text(80),
  purpose: z.enum(['master', 'issuer-signing', 'bank-ca', 'audit']),
  version: z.number().int(),
  state: z.enum(['active', 'superseded', 'retired']),
  createdAt: text(40),
  kcv: kcvSchema,
  algorithm: z.enum(['AES-256', 'EC-P256']),
  origin: z.enum(['generated', 'components']),
});
export type KeyInfoView = z.infer<typeof keyInfoSchema>;

export const cardKeyStateSchema = z.object({
  n: text(64),
  sn: z.number().int(),
  mkVersion: z.number().int(),
  pendingSn: z.number().int().nullable(),
  retiredSns: z.number().int(),
  kcv: kcvSchema,
});
export type CardKeyStateInfo = z.infer<typeof cardKeyStateSchema>;

const commonName = nonEmpty('Common name', 64);

/**
 * The only names main gives keystore backups (`<dataDir>/keystore/backups/`), stamped in UTC.
 * A restore names one of them exactly, never a path, so nothing outside that folder can be reached.
 */
export const BACKUP_FILE_NAME = /^keystore-backup-\d{8}T\d{6}\.\d{3}Z\.otacbk$/;
const backupPassphrase = z
  .string()
  .min(12, 'Choose a backup passphrase of at least 12 characters')
  .max(256, 'Passphrase is too long');
const custodianPassphrase = z
  .string()
  .min(1, "Each custodian's backup passphrase is required")
  .max(256, 'Passphrase is too long');
const backupFileName = z.string().max(64).regex(BACKUP_FILE_NAME, 'Choose a backup from the list');

export const backupInfoSchema = z.object({
  fileName: backupFileName,
  createdAt: text(40),
  sizeBytes: z.number().int().nonnegative(),
  /** User names of the two officers whose passphrases open it together (empty: header unreadable). */
  custodians: z.array(text(64)).max(2),
});
export type BackupInfoView = z.infer<typeof backupInfoSchema>;

export const keysChannels = {
  'keys:status': channel({
    summary: 'Whether the keystore exists and is unlocked, with the active keys and any ceremony in progress',
    input: none,
    output: keystoreStatusSchema,
    access: READERS,
    mutates: false,
  }),
  'keys:create': channel({
    summary: 'Create this desk’s keystore file under a new passphrase (software keystore, first run)',
    input: z
      .object({
        passphrase: z
          .string()
          .min(12, 'Choose a passphrase of at least 12 characters')
          .max(256, 'Passphrase is too long'),
      })
      .strict(),
    output: keystoreStatusSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:unlock': channel({
    summary: 'Unlock the keystore with its passphrase (or the HSM token PIN)',
    input: z
      .object({ passphrase: z.string().min(1, 'Passphrase is required').max(256, 'Passphrase is too long') })
      .strict(),
    output: keystoreStatusSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:lock': channel({
    summary: 'Lock the keystore; key material leaves memory and an unfinished ceremony is aborted',
    input: none,
    output: keystoreStatusSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:list': channel({
    summary: 'Every key with purpose, version, state and check value (never key bytes)',
    input: none,
    output: z.object({ keys: z.array(keyInfoSchema) }),
    access: READERS,
    mutates: false,
  }),
  'keys:ceremonyBegin': channel({
    summary: 'Begin a master-key ceremony from 2 or 3 custodian components (needs a second approver)',
    input: z
      .object({ components: z.union([z.literal(2), z.literal(3)]), approval: approvalSchema.optional() })
      .strict(),
    output: ceremonyProgressSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:ceremonyEnterComponent': channel({
    summary:
      'One custodian enters their component, signing it with their own credentials; answers its check value only',
    input: z
      .object({
        index: z.number().int().min(1).max(3),
        component: componentSchema,
        /** The custodian's own user name and password, typed beside their component (a security officer). */
        custodian: custodianSchema,
        expectedKcv: expectedKcv.optional(),
      })
      .strict(),
    output: z.object({ index: z.number().int(), kcv: kcvSchema }),
    access: OFFICERS,
    mutates: true,
  }),
  'keys:ceremonyFinish': channel({
    summary: 'Form the master key from the entered components; with a check value, a mismatch stores nothing',
    input: z.object({ expectedKcv: expectedKcv.optional() }).strict(),
    output: keyInfoSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:ceremonyAbort': channel({
    summary: 'Abort the ceremony; entered components are wiped',
    input: none,
    output: done,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:ceremonyProgress': channel({
    summary: 'The ceremony in progress, if any: how many components and which are entered',
    input: none,
    output: z.object({ ceremony: ceremonyProgressSchema.nullable() }),
    access: OFFICERS,
    mutates: false,
  }),
  'keys:generateMasterKey': channel({
    summary: 'Generate a new master key inside the keystore; an existing one is superseded (needs a second approver)',
    input: z.object({ approval: approvalSchema.optional() }).strict(),
    output: keyInfoSchema,
    access: OFFICERS,
    mutates: true,
  }),
  // The card vendor's transport master key (docs/keystore.md, "Loading the vendor transport key").
  'keys:transportBegin': channel({
    summary:
      "Begin loading the card vendor's transport master key from 2 or 3 component sheets (needs a second approver)",
    input: z
      .object({ components: z.union([z.literal(2), z.literal(3)]), approval: approvalSchema.optional() })
      .strict(),
    output: ceremonyProgressSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:transportEnterComponent': channel({
    summary:
      'One security officer enters one transport key component, signing it with their own credentials; answers its check value only',
    input: z
      .object({
        index: z.number().int().min(1).max(3),
        component: transportComponentSchema,
        custodian: custodianSchema,
        expectedKcv: expectedKcv.optional(),
      })
      .strict(),
    output: z.object({ index: z.number().int(), kcv: kcvSchema }),
    access: OFFICERS,
    mutates: true,
  }),
  'keys:transportFinish': channel({
    summary:
      "Form the transport key from its components; stored only if it matches the check value on the vendor's sheet",
    input: z.object({ expectedKcv }).strict(),
    output: versioned,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:transportAbort': channel({
    summary: 'Abort loading the transport key; entered components are wiped',
    input: none,
    output: done,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:transportRemove': channel({
    summary: 'Remove the vendor transport key: blank cards can no longer be enrolled (needs a second approver)',
    input: z.object({ reason: nonEmpty('Reason', 200), approval: approvalSchema.optional() }).strict(),
    output: z.object({ removed: versioned }),
    access: OFFICERS,
    mutates: true,
  }),
  'keys:createIssuerKey': channel({
    summary: 'Create the issuer signing key S with a certificate from the bank CA',
    input: z.object({ commonName }).strict(),
    output: keyInfoSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:createBankCa': channel({
    summary: 'Demo and training only: a self-signed bank CA inside the keystore (a real bank imports its CA)',
    input: z.object({ commonName }).strict(),
    output: keyInfoSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:issuerCertificate': channel({
    summary: 'The issuer certificate (public) as PEM',
    input: none,
    output: z.object({ pem: text(8000) }),
    access: OFFICERS,
    mutates: false,
  }),
  'keys:cardKeyState': channel({
    summary: "A card's key series: current SN, master-key version, pending rotation, retired count, KCV",
    input: z.object({ n: cardNSchema }).strict(),
    output: cardKeyStateSchema,
    access: OFFICERS,
    mutates: false,
  }),
  'keys:retireCardKey': channel({
    summary: 'Retire a compromised card key: the card moves to the next series; no other card changes',
    input: z.object({ n: cardNSchema, reason: nonEmpty('Reason', 200) }).strict(),
    output: cardKeyStateSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:backupList': channel({
    summary: 'The encrypted keystore backups kept on this desk, newest first',
    input: none,
    output: z.object({ backups: z.array(backupInfoSchema).max(10_000) }),
    access: OFFICERS,
    mutates: false,
  }),
  'keys:backupCreate': channel({
    summary:
      'Write an encrypted backup of every key that opens only with two custodians together: the officer and the approver, each typing a backup passphrase of their own (software keystore)',
    input: z
      .object({
        /** The initiating officer's own backup passphrase (custodian 1). */
        passphrase: backupPassphrase,
        /** The approver's own backup passphrase (custodian 2), typed in the approval dialog. */
        approverPassphrase: backupPassphrase.optional(),
        approval: approvalSchema.optional(),
      })
      .strict()
      .refine((i) => (i.approval === undefined) === (i.approverPassphrase === undefined), {
        message: 'The approver types a backup passphrase of their own with their approval',
        path: ['approverPassphrase'],
      }),
    output: backupInfoSchema,
    access: OFFICERS,
    mutates: true,
  }),
  'keys:backupRestore': channel({
    summary: "Replace every key on this desk with a backup's keys: both custodians' passphrases and a second approver",
    input: z
      .object({
        fileName: backupFileName,
        /** Each custodian's backup passphrase, in the order the backup lists its custodians. */
        custodianPassphrases: z.tuple([custodianPassphrase, custodianPassphrase]),
        approval: approvalSchema.optional(),
      })
      .strict(),
    output: z.object({ restoredKeys: z.number().int().nonnegative() }),
    access: OFFICERS,
    mutates: true,
  }),
} as const;
