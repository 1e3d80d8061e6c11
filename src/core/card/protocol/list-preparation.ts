import type { CardKeyPort, KeyRef, RsaPublicKeyBytes } from '../card-key-port';
import { CardError } from '../card-error';
import type { ListReceipt } from './card-responses';
import { receiptMessage, sha256 } from './list-envelope';
import { encodeListBody, encodeSignedList, type ListBody } from './list-format';

// Issuer side of a list push: build the list body, sign it with the issuer key, seal it for the
// card, and later check the card's receipt (two-phase: the server marks the list active only
// when verifyListReceipt passes — source 003 [0069]).

export type ListSealMode =
  | { readonly mode: 'card-key'; readonly cardKey: KeyRef; readonly keyVersion: number }
  | { readonly mode: 'public-key'; readonly cardPublicKey: RsaPublicKeyBytes };

/** What the issuer asks to be put on a card: exactly the list body the card will hold. */
export type ListSpec = ListBody;

export interface PreparedList {
  readonly envelope: Buffer;
  readonly receiptKey: KeyRef;
  readonly cardId: Buffer;
  readonly listSeq: number;
  readonly listId: Buffer;
  readonly bodyHash: Buffer;
}

export async function prepareList(
  port: CardKeyPort,
  issuerKey: KeyRef,
  spec: ListSpec,
  seal: ListSealMode,
): Promise<PreparedList> {
  const body = encodeListBody(spec);
  const credential = await port.issuerCredential(issuerKey);
  const signedList = encodeSignedList({
    body,
    issuerPublicKey: credential.publicKey,
    caSignature: credential.caSignature,
    issuerSignature: await port.signList(issuerKey, body),
  });
  const request = {
    cardId: spec.cardId,
    listSeq: spec.listSeq,
    keyVersion: seal.mode === 'card-key' ? seal.keyVersion : 0,
    signedList,
  };
  const sealed =
    seal.mode === 'card-key'
      ? await port.sealListForCardKey(seal.cardKey, request)
      : await port.sealListForPublicKey(seal.cardPublicKey, request);
  return { ...sealed, cardId: spec.cardId, listSeq: spec.listSeq, listId: spec.listId, bodyHash: sha256(body) };
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
