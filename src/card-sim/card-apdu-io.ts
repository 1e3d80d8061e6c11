import { CLA_CHAIN_BIT, decodeCommand, encodeResponse, type DecodedCommand } from '../core/card/apdu.codec';
import { SW } from '../core/card/status-words';

// The card's APDU plumbing, below the applet: command chaining reassembly (ISO 7816-4 5.4.1)
// and response delivery in Ne-sized pieces with 61xx / GET RESPONSE. Transient, like the
// card OS's APDU buffer: powerOff clears it.

export interface AppletReply {
  readonly data: Buffer;
  readonly sw: number;
}

export interface LogicalCommand {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Buffer;
}

const EMPTY = Buffer.alloc(0);
const MAX_CHAIN_BYTES = 65_535;

function swOnly(sw: number): Buffer {
  return encodeResponse(EMPTY, sw);
}

export class CardApduIo {
  private chain: { cla: number; ins: number; p1: number; p2: number; parts: Buffer[]; size: number } | undefined;
  private pending: { data: Buffer; sw: number } | undefined;

  reset(): void {
    this.chain = undefined;
    this.pending = undefined;
  }

  handle(raw: Buffer, exec: (cmd: LogicalCommand) => AppletReply): Buffer {
    let cmd: DecodedCommand;
    try {
      cmd = decodeCommand(raw);
    } catch {
      this.reset();
      return swOnly(SW.WRONG_LENGTH);
    }
    if (cmd.cla === 0x00 && cmd.ins === 0xc0) return this.getResponse(cmd);
    this.pending = undefined;

    const chained = (cmd.cla & CLA_CHAIN_BIT) !== 0 && cmd.cla !== 0xff;
    const cla = cmd.cla & ~CLA_CHAIN_BIT & 0xff;
    const c = this.chain;
    const sameHeader = c !== undefined && c.cla === cla && c.ins === cmd.ins && c.p1 === cmd.p1 && c.p2 === cmd.p2;
    if (c && !sameHeader) {
      this.chain = undefined;
      return swOnly(SW.LAST_COMMAND_EXPECTED);
    }
    if (chained) {
      const next = c ?? { cla, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, parts: [], size: 0 };
      if (next.size + cmd.data.length > MAX_CHAIN_BYTES) {
        this.chain = undefined;
        return swOnly(SW.NOT_ENOUGH_MEMORY);
      }
      next.parts.push(cmd.data);
      next.size += cmd.data.length;
      this.chain = next;
      return swOnly(SW.OK);
    }
    const data = c ? Buffer.concat([...c.parts, cmd.data]) : cmd.data;
    this.chain = undefined;
    const reply = exec({ cla, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data });
    return this.deliver(reply, cmd.ne);
  }

  private deliver(reply: AppletReply, ne: number | undefined): Buffer {
    if (reply.data.length === 0) return swOnly(reply.sw);
    if (ne === undefined) {
      // No Le but data to return: announce it the way T=0 cards do.
      this.pending = { data: reply.data, sw: reply.sw };
      return swOnly(0x6100 | (Math.min(reply.data.length, 256) & 0xff));
    }
    if (ne >= reply.data.length) return encodeResponse(reply.data, reply.sw);
    this.pending = { data: reply.data.subarray(ne), sw: reply.sw };
    return encodeResponse(reply.data.subarray(0, ne), 0x6100 | (Math.min(this.pending.data.length, 256) & 0xff));
  }

  private getResponse(cmd: DecodedCommand): Buffer {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return swOnly(SW.CONDITIONS_NOT_SATISFIED);
    if (cmd.p1 !== 0 || cmd.p2 !== 0) return swOnly(SW.WRONG_P1P2);
    return this.deliver(p, cmd.ne ?? 256);
  }
}
