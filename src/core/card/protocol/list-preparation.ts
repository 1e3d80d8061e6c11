import type { CardKeyPort, KeyRef, ListSealMode } from '../card-key-port';
import { CardError } from '../card-error';
import type { ListReceipt } from './card-responses';
import type { CodeListSpec } from './list-codes';
import { receiptMessage } from './list-envelope';

// Issuer side of a list push: ask the port (the keystore) for the list — it draws the codes, signs
// the body with the issuer key and seals it for the card, so no code passes through here — and
// later check the card's receipt (two-phase: the server marks the list active only when
// verifyListReceipt passes — source 003 [0069]).

export type { ListSealMode } from '../card-key-port';

/** What the issuer asks to be put on a card: the list without its codes. */
export type ListSpec = CodeListSpec;

export interface PreparedList {
  readonly envelope: Buffer;
  readonly receiptKey: KeyRef;
  readonly cardId: Buffer;
  readonly listSeq: number;
  readonly listId: Buffer;
  readonly bodyHash: Buffer;
  /** Kept by the issuer's database with the list (never a code): see IssuedList. */
  readonly mkVersion: number;
  readonly sealedFor: string;
}

export async function prepareList(
  port: CardKeyPort,
  issuerKey: KeyRef,
  spec: ListSpec,
  seal: ListSealMode,
): Promise<PreparedList> {
  const issued = await port.issueList(issuerKey, spec, seal);
  return {
    envelope: issued.envelope,
    receiptKey: issued.receiptKey,
    cardId: spec.cardId,
    listSeq: spec.listSeq,
    listId: issued.listId,
    bodyHash: issued.bodyHash,
    mkVersion: issued.mkVersion,
    sealedFor: issued.sealedFor,
  };
}

/** Throws CARD_RECEIPT_INVALID unless the receipt proves the card committed exactly this list. */
export async function verifyListReceipt(port: CardKeyPort, list: PreparedList, receipt: ListReceipt): Promise<void> {
  const ok =
    receipt.listSeq === list.listSeq &&
    (await port.verifyReceipt(
      list.receiptKey,
      receiptMessage(list.cardId, list.listSeq, list.listId, list.bodyHash),
      receipt.mac,
    ));
  if (!ok) {
    throw new CardError(
      'CARD_RECEIPT_INVALID',
      'The card did not confirm this list with a valid receipt, so it stays inactive on the server. Read the card state and retry the push; if it repeats, treat the card as suspect.',
    );
  }
}
