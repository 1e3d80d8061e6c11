import pcsc from 'pcsclite';

export interface ReaderStatus {
  name: string;
  cardPresent: boolean;
  atr?: string;
}

/** One look at the readers through pcsclite (SHARED, never connecting), for `testbed status`. */
export async function readPcscStatus(timeoutMs = 1500): Promise<ReaderStatus[]> {
  const context = pcsc();
  const readers = new Map<string, ReaderStatus | undefined>();
  const closers: Array<() => void> = [];
  try {
    return await new Promise<ReaderStatus[]>((resolve, reject) => {
      const finish = (): void => {
        if ([...readers.values()].every((r) => r !== undefined)) {
          resolve([...readers.values()].filter((r): r is ReaderStatus => r !== undefined));
        }
      };
      const timer = setTimeout(() => finish(), timeoutMs);
      context.on('error', (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
      context.on('reader', (reader) => {
        readers.set(reader.name, undefined);
        closers.push(() => reader.close());
        reader.on('error', () => readers.set(reader.name, { name: reader.name, cardPresent: false }));
        reader.once('status', (status) => {
          // Upper 16 bits of the state are pcscd's event counter.
          const present = (status.state & 0xffff & reader.SCARD_STATE_PRESENT) !== 0;
          readers.set(reader.name, {
            name: reader.name,
            cardPresent: present,
            ...(present && status.atr ? { atr: status.atr.toString('hex').toUpperCase() } : {}),
          });
          finish();
        });
      });
      // With no readers at all pcsclite never emits 'reader'.
      setTimeout(() => finish(), 300);
    });
  } finally {
    for (const close of closers) close();
    context.close();
  }
}
