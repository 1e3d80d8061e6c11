import {
  chainCommand,
  encodeCommand,
  parseResponse,
  SHORT_MAX_NC,
  SHORT_MAX_NE,
  type CommandApdu,
  type ResponseApdu,
} from './apdu.codec';
import { CardError, cardStatusError } from './card-error';
import type { CardTransport } from './transport';

// Runs one logical command over a transport: chaining on the way in, 61xx GET RESPONSE and
// 6Cxx re-issue on the way out. Stateless apart from the transport itself.

export interface LinkOptions {
  /** Reader and card both accept extended-length APDUs. */
  readonly extendedLength: boolean;
  /** The largest Nc the card takes in one APDU (from SELECT); longer data is chained. */
  readonly maxCommandData?: number;
}

export const SHORT_LINK: LinkOptions = { extendedLength: false };

/** Cap on accumulated response bytes, so a card looping on 61xx cannot hang the workstation. */
const MAX_RESPONSE_BYTES = 1 << 20;
const MAX_EXCHANGES = 4096;

async function exchange(transport: CardTransport, cmd: CommandApdu, extended: boolean): Promise<ResponseApdu> {
  return parseResponse(await transport.transmit(encodeCommand(cmd, extended ? 'auto' : 'short')));
}

/** Sends a command and returns the final response with whatever status word it carries. */
export async function transceive(
  transport: CardTransport,
  cmd: CommandApdu,
  link: LinkOptions = SHORT_LINK,
): Promise<ResponseApdu> {
  const ext = link.extendedLength;
  const chunk = ext
    ? Math.min(link.maxCommandData ?? 65535, 65535)
    : Math.min(link.maxCommandData ?? SHORT_MAX_NC, SHORT_MAX_NC);
  const ne = cmd.ne !== undefined && !ext ? Math.min(cmd.ne, SHORT_MAX_NE) : cmd.ne;
  const pieces = chainCommand({ ...cmd, ...(ne === undefined ? {} : { ne }) }, chunk);
  for (const piece of pieces.slice(0, -1)) {
    const r = await exchange(transport, piece, ext);
    if (r.sw !== 0x9000) throw cardStatusError(r.sw, 'Sending a chained command');
  }
  let last = pieces[pieces.length - 1] as CommandApdu;
  let r = await exchange(transport, last, ext);
  let wrongLeRetries = 0;
  while ((r.sw & 0xff00) === 0x6c00 && wrongLeRetries < 2) {
    // 6Cxx: same command again with the exact Le the card asked for.
    wrongLeRetries++;
    last = { ...last, ne: (r.sw & 0xff) === 0 ? SHORT_MAX_NE : r.sw & 0xff };
    r = await exchange(transport, last, ext);
  }
  const parts: Buffer[] = [r.data];
  let total = r.data.length;
  let exchanges = 0;
  while ((r.sw & 0xff00) === 0x6100) {
    if (++exchanges > MAX_EXCHANGES || total > MAX_RESPONSE_BYTES) {
      throw new CardError(
        'CARD_RESPONSE_TOO_LONG',
        'The card keeps announcing more response data than any OTAC command returns. Remove and re-insert the card.',
      );
    }
    const le = r.sw & 0xff;
    r = await exchange(transport, { cla: 0x00, ins: 0xc0, p1: 0, p2: 0, ne: le === 0 ? SHORT_MAX_NE : le }, false);
    parts.push(r.data);
    total += r.data.length;
  }
  return { data: parts.length === 1 ? r.data : Buffer.concat(parts), sw: r.sw };
}

/** Like transceive, but anything other than 9000 (or an explicitly accepted SW) is a CardError. */
export async function send(
  transport: CardTransport,
  cmd: CommandApdu,
  operation: string,
  link: LinkOptions = SHORT_LINK,
  accept: readonly number[] = [],
): Promise<ResponseApdu> {
  const r = await transceive(transport, cmd, link);
  if (r.sw !== 0x9000 && !accept.includes(r.sw)) throw cardStatusError(r.sw, operation);
  return r;
}
