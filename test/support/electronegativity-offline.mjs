// Runs electronegativity on one folder, offline and deterministically, and prints its findings
// as JSON on stdout: [{ issue, severity, file }].
//
// Why not the CLI with `-o report.csv`: its writer starts two async fs.writeFile calls on the
// same path, the header with flag 'w' and the findings with flag 'a', and never orders them.
// When the findings land first, the header's truncate wipes them and the report is empty — the
// one failure of "does find HIGH issues in an insecure window" seen in five clean runs. Called as
// a library (no `output`), the runner returns its findings and writes no file.
//
// Offline: the scanner uses `got` twice, for a translation file (1 s timeout) and for Electron's
// release list (about 10 s of retries offline). The release check is excluded (it needs the
// internet to say anything); `got` is replaced by a function that fails at once, so the
// translation falls back to the bundled en-US texts with no network attempt.
//
// Usage: node electronegativity-offline.mjs <folder> <electron version>
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// The scanner talks on console.log; stdout carries only the findings.
console.log = console.error;
// The scanner is CommonJS; its `got` is swapped in the shared module cache before it loads.
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('@doyensec/electronegativity/package.json'));
const gotPath = require.resolve('got', { paths: [pkgDir] });
const offline = () => Promise.reject(new Error('electronegativity runs offline here'));
offline.head = offline;
require.cache[gotPath] = {
  id: gotPath,
  filename: gotPath,
  loaded: true,
  exports: { __esModule: true, default: offline },
};

const [input, electronVersion] = process.argv.slice(2);
if (!input || !electronVersion) {
  console.error('usage: electronegativity-offline.mjs <folder> <electron version>');
  process.exit(2);
}

// dist/runner.js ends with `module.exports = exports.default`: the module is the function.
const run = require(join(pkgDir, 'dist/runner.js'));
run({
  input,
  isRelative: true,
  isVerbose: false,
  customScan: [],
  excludeFromScan: ['availablesecurityfixesglobalcheck'],
  electronVersionOverride: electronVersion,
  parserPlugins: [],
}).then(
  (result) => {
    const broken = result.errors.filter((e) => !e.tolerable);
    if (broken.length > 0) {
      // A file the parser could not read was not checked: that is a failed scan, not a clean one.
      console.error(JSON.stringify(broken));
      process.exit(3);
    }
    const findings = result.issues.map((i) => ({ issue: i.id, severity: i.severity.name, file: i.file }));
    process.stdout.write(JSON.stringify(findings));
  },
  (err) => {
    console.error(err instanceof Error ? err.stack : String(err));
    process.exit(1);
  },
);
