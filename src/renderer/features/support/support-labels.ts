import type { SupportCaseView } from '../../../shared/contract/support.contract';

export const REASON_LABELS: Record<SupportCaseView['reason'], string> = {
  lost: 'Lost',
  stolen: 'Stolen',
  damaged: 'Damaged',
  suspected_clone: 'Suspected cloned',
};

export const STEP_LABELS: Record<SupportCaseView['step'], string> = {
  send: 'Send a passkey',
  enter: 'Enter the passkey',
  locked: 'Locked: manager procedure',
  reissue: 'Reissue',
  done: 'Done',
};

export const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) : '');
/** Expiry to the second, in the desk's local time, with the UTC the message names. */
export const clock = (iso: string) => `${new Date(iso).toLocaleTimeString()} (${iso.slice(11, 16)} UTC)`;
