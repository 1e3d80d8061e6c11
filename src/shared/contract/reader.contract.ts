import { z } from 'zod';
import { channel, none, text } from './define';
import { readerSnapshotSchema } from './events.contract';

export const readerChannels = {
  'reader:status': channel({
    summary: 'Readers, cards present and their public state, as the status bar shows them',
    input: none,
    output: readerSnapshotSchema,
    access: 'signed-in',
    mutates: false,
  }),
  'reader:refresh': channel({
    summary: 'Read the card in a reader again',
    input: z.object({ reader: text(200) }).strict(),
    output: readerSnapshotSchema,
    access: 'signed-in',
    mutates: false,
  }),
} as const;
