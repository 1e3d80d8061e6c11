import { z } from 'zod';
import { auditEntrySchema } from './audit.contract';
import { channel, nonEmpty, text } from './define';

// Customers (issue 9, item 1): the record every card is bound to, its search and the duplicate
// warning. Who does what:
//   clerk, manager, support — create, edit, search, open (they serve customers at the desk; support
//                             corrects contact data before a reissue);
//   auditor                 — search and open, read-only (the customer page with its history);
//   security_officer        — nothing: keys and operators, not customers (least privilege).

export const CUSTOMER_EDITORS = ['clerk', 'manager', 'support'] as const;
export const CUSTOMER_READERS = ['clerk', 'manager', 'support', 'auditor'] as const;

/** ISO 3166-1 alpha-2, the 249 officially assigned codes. */
export const ISO_COUNTRIES: ReadonlySet<string> = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO ' +
    'FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE ' +
    'JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO ' +
    'MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW ' +
    'PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM ' +
    'TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
);

/** True for a calendar date that exists (no 31 April), from 1900 up to today (UTC). */
export function isPlausibleBirthDate(s: string, today: Date = new Date()): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.toISOString().slice(0, 10) !== s) return false;
  return Number(m[1]) >= 1900 && s <= today.toISOString().slice(0, 10);
}

// An empty optional field from a form means "none".
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), schema.nullable());

const birthDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'Use a date like 1980-01-31')
  .refine((s) => isPlausibleBirthDate(s), 'Enter a real date between 1900 and today');

// Separators people type in phone numbers are dropped; what remains must be E.164.
const mobile = z
  .string()
  .max(40, 'Mobile number is too long')
  .transform((s) => s.replace(/[\s().-]/g, ''))
  .pipe(z.string().regex(/^\+[1-9]\d{6,14}$/, 'Use the international form, e.g. +44 7700 900123'));

const email = z
  .string()
  .trim()
  .max(254, 'E-mail address is too long')
  .pipe(z.email('Enter an e-mail address like name@example.org'));

const customerRef = z
  .string()
  .trim()
  .max(64, 'Customer reference is longer than 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ./_-]*$/, 'Use letters, digits, space, dot, slash, dash or underscore');

export const postalAddressSchema = z
  .object({
    line1: nonEmpty('Address line 1', 120),
    line2: optional(z.string().trim().max(120, 'Address line 2 is longer than 120 characters')).optional(),
    postalCode: nonEmpty('Postal code', 20),
    city: nonEmpty('City', 80),
    country: z
      .string()
      .trim()
      .transform((s) => s.toUpperCase())
      .refine((s) => ISO_COUNTRIES.has(s), 'Use the two-letter ISO country code, e.g. GB or DE'),
  })
  .strict();

/** What an operator types for a customer; a customer has a birth date, a reference, or both. */
export const customerInputSchema = z
  .object({
    fullName: nonEmpty('Name', 200),
    birthDate: optional(birthDate).optional(),
    customerRef: optional(customerRef).optional(),
    address: postalAddressSchema,
    email: optional(email).optional(),
    mobile: optional(mobile).optional(),
    branch: nonEmpty('Branch', 80),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.birthDate && !c.customerRef)
      ctx.addIssue({
        code: 'custom',
        path: ['birthDate'],
        message: 'Enter a birth date or a customer reference (or both)',
      });
  });
export type CustomerInput = z.input<typeof customerInputSchema>;

export const customerSchema = z.object({
  id: z.number().int(),
  fullName: text(200),
  birthDate: text(10).nullable(),
  customerRef: text(64).nullable(),
  address: z.object({
    line1: text(120),
    line2: text(120).nullable(),
    postalCode: text(20),
    city: text(80),
    country: text(2),
  }),
  email: text(254).nullable(),
  mobile: text(16).nullable(),
  branch: text(80),
  createdAt: text(40),
  createdBy: text(64),
  updatedAt: text(40),
  version: z.number().int(),
});
export type Customer = z.infer<typeof customerSchema>;

export const DUPLICATE_REASONS = ['name-and-birth-date', 'email', 'mobile'] as const;
export type DuplicateReason = (typeof DUPLICATE_REASONS)[number];

/** A record that may be the same person: enough to tell them apart, and why it was matched. */
export const duplicateCandidateSchema = z.object({
  id: z.number().int(),
  fullName: text(200),
  birthDate: text(10).nullable(),
  customerRef: text(64).nullable(),
  city: text(80),
  branch: text(80),
  reasons: z.array(z.enum(DUPLICATE_REASONS)),
});
export type DuplicateCandidate = z.infer<typeof duplicateCandidateSchema>;

export const customerSummarySchema = z.object({
  id: z.number().int(),
  fullName: text(200),
  birthDate: text(10).nullable(),
  customerRef: text(64).nullable(),
  city: text(80),
  branch: text(80),
  cards: z.number().int(),
  updatedAt: text(40),
});
export type CustomerSummary = z.infer<typeof customerSummarySchema>;

export const CUSTOMER_SORTS = ['name', 'birthDate', 'customerRef', 'city', 'branch', 'updatedAt'] as const;
export type CustomerSort = (typeof CUSTOMER_SORTS)[number];
export const CUSTOMER_SEARCH_FIELDS = ['any', 'name', 'customerRef', 'cardId', 'n'] as const;
export type CustomerSearchField = (typeof CUSTOMER_SEARCH_FIELDS)[number];

export const customerCardSchema = z.object({
  id: z.number().int(),
  cardId: text(64),
  n: text(64),
  state: z.enum(['enrolling', 'awaiting_activation', 'active', 'blocked', 'terminated']),
  sealMode: z.enum(['card-key', 'public-key']),
  enrolledAt: text(40),
  enrolledBy: text(64),
  activatedAt: text(40).nullable(),
  stateChangedAt: text(40),
});
export type CustomerCard = z.infer<typeof customerCardSchema>;

/** Saved, or held back because it may be a person already on file (call again with confirmDuplicates). */
const saveOutcome = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('saved'),
    customer: customerSchema,
    /** Which fields this call changed (names only). */
    changed: z.array(text(40)),
  }),
  z.object({ status: z.literal('possible-duplicates'), candidates: z.array(duplicateCandidateSchema) }),
]);
export type CustomerSaveOutcome = z.infer<typeof saveOutcome>;

export const customersChannels = {
  'customers:create': channel({
    summary: 'Create a customer; answers possible duplicates instead unless confirmDuplicates is true',
    input: z
      .object({
        customer: customerInputSchema,
        /** The operator saw the possible duplicates and chose "create anyway". */
        confirmDuplicates: z.boolean().default(false),
      })
      .strict(),
    output: saveOutcome,
    access: CUSTOMER_EDITORS,
    mutates: true,
  }),
  'customers:update': channel({
    summary: 'Change a customer as of the version the operator saw; a stale version is refused',
    input: z
      .object({
        id: z.number().int().positive(),
        version: z.number().int().positive(),
        customer: customerInputSchema,
        confirmDuplicates: z.boolean().default(false),
      })
      .strict(),
    output: saveOutcome,
    access: CUSTOMER_EDITORS,
    mutates: true,
  }),
  'customers:get': channel({
    summary: 'One customer with their cards and history (audit entries about them or their cards)',
    input: z.object({ id: z.number().int().positive() }).strict(),
    output: z.object({
      customer: customerSchema,
      cards: z.array(customerCardSchema),
      history: z.array(auditEntrySchema),
      /** True when older history exists beyond what is shown (the audit page has all of it). */
      historyTruncated: z.boolean(),
    }),
    access: CUSTOMER_READERS,
    mutates: false,
  }),
  'customers:search': channel({
    summary: 'Customers by name (folded, prefix and words), reference, card id or N; paged and sorted',
    input: z
      .object({
        query: z.string().trim().max(200, 'Search text is longer than 200 characters').default(''),
        field: z.enum(CUSTOMER_SEARCH_FIELDS).default('any'),
        sort: z.enum(CUSTOMER_SORTS).default('name'),
        direction: z.enum(['asc', 'desc']).default('asc'),
        page: z.number().int().min(1).max(100_000).default(1),
        pageSize: z.number().int().min(1).max(100).default(25),
      })
      .strict(),
    output: z.object({
      total: z.number().int(),
      page: z.number().int(),
      pageSize: z.number().int(),
      customers: z.array(customerSummarySchema),
    }),
    access: CUSTOMER_READERS,
    mutates: false,
  }),
} as const;
