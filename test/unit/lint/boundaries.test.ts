import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The process and card-stack boundaries are lint rules (eslint.config.mjs); here each is shown to bite.
const eslint = new ESLint({ cwd: process.cwd() });

async function restricted(filePath: string, importLine: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${importLine}\nexport const used = imported;\n`, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', { timeout: 60_000 }, () => {
  it.each([
    ['src/core/workstation.ts', "import { imported } from '../main/index';", /imports none of them/],
    ['src/core/workstation.ts', "import { imported } from '../host/browser-host';", /imports none of them/],
    ['src/core/workstation.ts', "import { imported } from '../renderer/app/App';", /imports none of them/],
    // The virtual card is injected by the process entries (training cards), never imported by the core.
    [
      'src/core/enrollment/training-stock.ts',
      "import { imported } from '../../card-sim/virtual-card';",
      /nor the card simulator/,
    ],
    [
      'src/core/card/training-reader.ts',
      "import { imported } from '../../card-sim/card-side';",
      /nor the card simulator/,
    ],
    ['src/core/card/apdu.codec.ts', "import { imported } from './protocol/card-session';", /codec layer/],
    ['src/core/card/apdu-send.ts', "import { imported } from './reader.service';", /codec layer/],
    ['src/core/card/reader.service.ts', "import { imported } from './protocol/secure-channel';", /reader layer/],
    ['src/core/card/pcsc.transport.ts', "import { imported } from './reader-monitor.service';", /reader layer/],
    ['src/core/card/protocol/card-session.ts', "import { imported } from '../reader.service';", /protocol layer/],
    [
      'src/core/card/protocol/card-session.ts',
      "import { imported } from '../../keystore/keystore.service';",
      /protocol layer/,
    ],
    ['src/core/card/protocol/card-session.ts', "import { imported } from '../../db/database';", /protocol layer/],
  ])('%s may not: %s', async (file, line, why) => {
    const messages = await restricted(file, line);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(why);
  });

  it.each([
    ['src/core/card/protocol/sm-crypto.ts', "import { imported } from '../../crypto/aes-cmac';"],
    ['src/core/card/protocol/card-session.ts', "import { imported } from '../apdu-send';"],
    ['src/core/card/reader-monitor.service.ts', "import { imported } from './protocol/card-session';"],
    ['src/core/workstation.ts', "import { imported } from './card/reader-setup';"],
    ['src/host/browser-host.ts', "import { imported } from '../card-sim/training-cards';"],
  ])('%s may: %s', async (file, line) => {
    expect(await restricted(file, line)).toEqual([]);
  });
});
