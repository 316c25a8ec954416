// ESLint for the whole tree, run by `npm run lint` and by `npm test`. Correctness rules only (ESLint's
// recommended set plus a few); formatting is Prettier's (`.prettierrc.json`), and types are tsc's.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', 'var/', 'console/dist/', 'test-artifacts/', '.scratch/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['**/*.{ts,js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      // The few Node globals the plain-JS entry points use (TypeScript files get theirs from tsc).
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-var': 'error',
      'prefer-const': ['error', { destructuring: 'all' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-self-compare': 'error',
      // Input validation rejects control characters with regular expressions on purpose.
      'no-control-regex': 'off',
      // Secrets are overwritten after their last use on purpose; this rule calls that useless.
      'no-useless-assignment': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.eslintRecommended],
    // Not type-aware: with the type checker (e.g. no-floating-promises) the lint takes three times as long.
    languageOptions: { parser: tseslint.parser },
    rules: {
      // tsc (strict) reports what matters here; the JS rule misreads type-only names and overloads.
      'no-unused-vars': 'off',
    },
  },
  {
    // Product code: `any` only behind a disable comment that says why. Tests and benches poke at JSON freely.
    files: ['{crypto,formats,he,query,contracts,server,enclave,client-sdk,cli,scripts}/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    // The unrolled field multiplication declares all its temporaries alike with `let`; sm2-table's `inv` can be `const`.
    files: ['crypto/sm2-field.ts', 'crypto/sm2-table.ts'],
    rules: { 'prefer-const': 'off' },
  },
  {
    // The server, the enclave and the domain logic log through pino or not at all: stdout is not their log.
    files: ['{crypto,formats,he,query,contracts,server,enclave}/**/*.{ts,mjs}'],
    ignores: ['console/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='console'][callee.property.name='log']", message: 'Log through pino, not console.log.' },
      ],
    },
  },
);
