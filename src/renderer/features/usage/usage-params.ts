import {
  REJECTION_REASONS,
  USAGE_GROUPS,
  USAGE_SORTS,
  type RejectionReason,
  type UsageFilter,
  type UsageGroup,
  type UsageSort,
} from '../../../shared/contract/usage.contract';

/** What the usage page shows, all of it kept in the page's address (routes.ts useHashParams). */
export interface UsageView {
  filter: UsageFilter;
  by: UsageGroup;
  sort: UsageSort;
  desc: boolean;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** A real calendar day (as main checks it): 2026-02-30 is not one. */
const isDay = (d: string) => {
  const t = Date.parse(`${d}T00:00:00.000Z`);
  return DAY.test(d) && !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
};
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** The last 30 UTC days, today included: the range when the address names none. */
export function defaultRange(now = new Date()): { from: string; to: string } {
  return { from: isoDay(new Date(now.getTime() - 29 * 86_400_000)), to: isoDay(now) };
}

/** Reads the view from the address; anything malformed falls back to its default rather than failing. */
export function viewFromParams(p: URLSearchParams): UsageView {
  const range = defaultRange();
  const from = p.get('from') ?? '';
  const to = p.get('to') ?? '';
  const reason = p.get('reason') ?? '';
  const by = p.get('by') ?? '';
  const sort = p.get('sort') ?? '';
  const filter: UsageFilter = {
    from: isDay(from) ? from : range.from,
    to: isDay(to) ? to : range.to,
  };
  if (filter.from! > filter.to!) filter.from = filter.to;
  const branch = p.get('branch')?.slice(0, 80);
  if (branch) filter.branch = branch;
  const q = p.get('q')?.slice(0, 80);
  if (q) filter.q = q;
  if ((REJECTION_REASONS as readonly string[]).includes(reason)) filter.reason = reason as RejectionReason;
  return {
    filter,
    by: (USAGE_GROUPS as readonly string[]).includes(by) ? (by as UsageGroup) : 'card',
    sort: (USAGE_SORTS as readonly string[]).includes(sort) ? (sort as UsageSort) : 'key',
    desc: p.get('desc') === '1',
  };
}

export function paramsFromView(v: UsageView): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of ['from', 'to', 'branch', 'q', 'reason'] as const) {
    const value = v.filter[k];
    if (value) p.set(k, value);
  }
  if (v.by !== 'card') p.set('by', v.by);
  if (v.sort !== 'key') p.set('sort', v.sort);
  if (v.desc) p.set('desc', '1');
  return p;
}

export const REASON_LABELS: Record<RejectionReason, string> = {
  unknown_n: 'Unknown N',
  card_blocked: 'Card blocked',
  card_terminated: 'Card terminated',
  card_not_active: 'Card not active',
  no_active_list: 'No active list',
  table_disabled: 'Table disabled',
  table_expired: 'Table expired',
  already_used: 'Already used',
  not_expected_position: 'Not the expected position',
  wrong_code: 'Wrong code',
  too_many_failures: 'Too many failures',
};

/** One colour per refusal reason, dark enough for text contrast on white. */
export const REASON_COLOURS: Record<RejectionReason, string> = {
  unknown_n: '#6b4fa0',
  card_blocked: '#b3261e',
  card_terminated: '#7a1c16',
  card_not_active: '#8a5a00',
  no_active_list: '#5b6775',
  table_disabled: '#a0306e',
  table_expired: '#38607a',
  already_used: '#c2410c',
  not_expected_position: '#1f6f78',
  wrong_code: '#9a3412',
  too_many_failures: '#4a4a4a',
};
