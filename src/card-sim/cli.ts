import { isAppError } from '../core/errors';
import { runCardCli } from './card-cli';

// Entry point for `npx tsx src/card-sim/cli.ts …` (npm run card -- …).
runCardCli(process.argv.slice(2), { out: (line) => console.log(line) }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(isAppError(err) ? err.message : String(err));
    process.exitCode = 1;
  },
);
