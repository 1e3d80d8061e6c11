/**
 * The card side of a contact interface, as a reader driver sees it. The virtual card
 * implements it; the vpcd link (pcscd's virtual reader) and the in-process training reader
 * both drive it. Nothing here knows the OTAC protocol.
 */
export interface CardSide {
  /** Answer-to-reset bytes. */
  atr(): Buffer;
  /** Contacts powered on: the card may start a fresh transient state. */
  powerOn(): void;
  /** Contacts powered off: transient state (session keys, PIN verified, staged data not committed) is lost. */
  powerOff(): void;
  /** Warm reset: like powerOff then powerOn. */
  reset(): void;
  /** One command APDU in, exactly one response APDU out (data || SW1 SW2). Never throws. */
  process(commandApdu: Buffer): Buffer;
}
