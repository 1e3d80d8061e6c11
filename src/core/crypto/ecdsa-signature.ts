// ECDSA signatures in the two encodings in use: r || s (IEEE P1363, what PKCS#11 CKM_ECDSA
// returns and what a card verifies cheaply) and DER SEQUENCE { r INTEGER, s INTEGER } (X.509).

export function p1363ToDer(sig: Uint8Array): Buffer {
  const half = sig.length / 2;
  const int = (b: Uint8Array): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = Buffer.from(b.subarray(i));
    return (v[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
  };
  const r = int(sig.subarray(0, half));
  const s = int(sig.subarray(half));
  const body = Buffer.concat([Buffer.from([0x02, r.length]), r, Buffer.from([0x02, s.length]), s]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

export function derToP1363(der: Uint8Array, size = 32): Buffer {
  const d = Buffer.from(der);
  if (d[0] !== 0x30) throw new RangeError('not a DER ECDSA signature');
  let off = 2;
  const out = Buffer.alloc(size * 2);
  for (let part = 0; part < 2; part++) {
    if (d[off] !== 0x02) throw new RangeError('not a DER ECDSA signature');
    const len = d[off + 1] ?? 0;
    let v = d.subarray(off + 2, off + 2 + len);
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new RangeError('ECDSA integer too long');
    v.copy(out, part * size + (size - v.length));
    off += 2 + len;
  }
  return out;
}
