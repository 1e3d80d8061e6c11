/**
 * The lowest card layer: one command APDU out, one response APDU back. The PC/SC reader
 * service and the in-process training reader implement it; everything above is transport-blind.
 * A response may be empty or truncated when the card dies mid-APDU: callers check it.
 */
export interface CardTransport {
  transmit(command: Buffer): Promise<Buffer>;
}
