// Lint rules, including the process boundaries: which code may import what is enforced here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

const nodeOnly = ['node:*', 'fs', 'path', 'crypto', 'child_process', 'better-sqlite3', 'pcsclite', 'pkcs11js'];

const noElectron = {
  name: 'electron',
  message: 'Only src/main and src/preload may import electron; keep domain code Node-loadable.',
};
const coreStaysBelow = {
  group: ['**/main/**', '**/host/**', '**/renderer/**', '**/preload/**', '**/verify-service/**', '**/card-sim/**'],
  message:
    'src/core is composed by the process entries (main, host, verify-service) and imports none of them, nor the card simulator (the entries inject it).',
};
// The card stack's layers by file, as seen from src/core/card (see the card-layer rules below).
const readerLayer = [
  './pcsc.transport',
  './reader.service',
  './reader-errors',
  './reader-events',
  './reader.types',
  './training-reader',
];
const protocolLayer = ['./protocol/*', './card-key-port', './raw-card-key-port'];
const appLayer = ['./reader-monitor.service', './reader-setup', './reader.ipc'];
const cardLayer = (layer, above) => ({
  group: above,
  message: `The card stack imports downward only: the ${layer} layer may not import a layer above it (docs/pcsc-testbed.md).`,
});

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.data/**', '.testbed/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/ban-ts-comment': [
        'error',
        { 'ts-ignore': 'allow-with-description', minimumDescriptionLength: 10 },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/only-throw-error': 'error',
      'no-console': 'off',
      // Interface methods are async for the PKCS#11 and reader backends even where one backend needs no await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  // Domain, shared, host and card simulator code must load in plain Node: no Electron.
  {
    files: ['src/shared/**', 'src/host/**', 'src/verify-service/**', 'src/card-sim/**', 'scripts/**', 'bench/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [noElectron] }] },
  },
  // The core is what every process entry composes (Electron main, browser host, services): it
  // imports none of them.
  {
    files: ['src/core/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [noElectron], patterns: [coreStaysBelow] }] },
  },
  // The card stack in layers, each importing only those below it: codecs and the transport
  // interface; readers (pcscd, training); the card protocol; the reader services the app uses.
  {
    files: [
      'src/core/card/apdu.codec.ts',
      'src/core/card/apdu-send.ts',
      'src/core/card/tlv.codec.ts',
      'src/core/card/status-words.ts',
      'src/core/card/card-error.ts',
      'src/core/card/transport.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noElectron],
          patterns: [coreStaysBelow, cardLayer('codec', [...protocolLayer, ...readerLayer, ...appLayer])],
        },
      ],
    },
  },
  {
    files: [
      'src/core/card/pcsc.transport.ts',
      'src/core/card/reader.service.ts',
      'src/core/card/reader-errors.ts',
      'src/core/card/reader-events.ts',
      'src/core/card/reader.types.ts',
      'src/core/card/training-reader.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [noElectron], patterns: [coreStaysBelow, cardLayer('reader', [...protocolLayer, ...appLayer])] },
      ],
    },
  },
  {
    files: ['src/core/card/protocol/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noElectron],
          patterns: [
            coreStaysBelow,
            cardLayer('protocol', [
              ...readerLayer.map((f) => f.replace('./', '../')),
              ...appLayer.map((f) => f.replace('./', '../')),
              '../../*/**', // the other core features: the protocol knows only codecs, crypto and errors
              '!../../crypto/**',
            ]),
          ],
        },
      ],
    },
  },
  // Shared is pure: schemas and types any process can load.
  {
    files: ['src/shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'src/shared is pure.' }],
          patterns: [
            { group: nodeOnly, message: 'src/shared is pure: no Node modules.' },
            {
              group: ['**/core/**', '**/main/**', '**/renderer/**', '**/host/**', '**/card-sim/**'],
              message: 'src/shared imports nothing from the processes.',
            },
          ],
        },
      ],
    },
  },
  // The renderer reaches main only through the contract.
  {
    files: ['src/renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'The renderer talks to main only through the contract (window.otac).' }],
          patterns: [
            { group: nodeOnly, message: 'The renderer has no Node access.' },
            {
              group: ['**/core/**', '**/main/**', '**/host/**', '**/preload/**', '**/card-sim/**'],
              message: 'The renderer may import only src/shared, never main-process code.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
