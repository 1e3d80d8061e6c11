import { CardError } from '../card/card-error';
import { SW } from '../card/status-words';
import type { ListReceipt } from '../card/protocol/card-responses';
import type { OtacCard, ProgressListener } from '../card/protocol/card-session';
import { parseEnvelope } from '../card/protocol/list-envelope';
import { AppError } from '../errors';
import { packageId } from './sms-package';

// Loading a remote refill package into a card, with no issuer key and no desk: the envelope is
// all the card needs (docs/remote-refill.md). Run twice — say the first run lost the card's
// answer — the second finds the list committed and answers the same receipt.

export interface PackageLoadResult {
  readonly receipt: ListReceipt;
  /** The card had committed this list already (an earlier run lost its answer). */
  readonly alreadyLoaded: boolean;
}

export async function loadPackage(
  card: OtacCard,
  envelope: Buffer,
  onProgress?: ProgressListener,
): Promise<PackageLoadResult> {
  const { header } = parseEnvelope(envelope);
  const info = await card.select();
  const wanted = header.cardId.toString('hex');
  if (info.cardId.toLowerCase() !== wanted) {
    throw new AppError(
      'PACKAGE_OTHER_CARD',
      `This package is for card ${wanted.toUpperCase()}, not the card in the reader (${info.cardId.toUpperCase()}). Nothing was changed.`,
    );
  }
  try {
    return { receipt: await card.loadList(envelope, onProgress), alreadyLoaded: false };
  } catch (err) {
    // 6985 on COMMIT: not newer than the committed list. If the committed one is this list, done.
    if (!(err instanceof CardError) || err.sw !== SW.CONDITIONS_NOT_SATISFIED) throw err;
    const receipt = await card.getReceipt().catch(() => undefined);
    if (receipt?.listSeq === header.listSeq) return { receipt, alreadyLoaded: true };
    throw new AppError(
      'PACKAGE_STALE',
      'The card already holds a newer list than this package. Nothing was changed; the package is no longer needed.',
    );
  }
}

/** The receipt as one text message the cardholder sends back: `OTACR <package id> <listSeq||mac, base64url>`. */
export function receiptText(envelope: Buffer, receipt: ListReceipt): string {
  const seq = Buffer.alloc(4);
  seq.writeUInt32BE(receipt.listSeq);
  return `OTACR ${packageId(envelope)} ${Buffer.concat([seq, receipt.mac]).toString('base64url')}`;
}

export function parseReceiptText(text: string): { readonly packageId: string; readonly receipt: ListReceipt } {
  const m = /^OTACR ([0-9A-HJKMNP-TV-Z]{6}) ([A-Za-z0-9_-]{24,40})$/.exec(text.trim());
  const bytes = m?.[2] ? Buffer.from(m[2], 'base64url') : undefined;
  if (!m?.[1] || !bytes || bytes.length <= 4) {
    throw new AppError('PACKAGE_RECEIPT_MALFORMED', 'This is not an OTAC list receipt. Check the message.');
  }
  return { packageId: m[1], receipt: { listSeq: bytes.readUInt32BE(0), mac: Buffer.from(bytes.subarray(4)) } };
}
