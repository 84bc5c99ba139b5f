// Lint is part of `npm test`. Type-aware rules stay off to keep the run fast; tsc checks types.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.portcullis/', '.conformance-out/', '.bench-out/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', setImmediate: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Secrets are compared with crypto.timingSafeEqual only (security checklist A9).
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.property.name='exec']:has(Identifier[name='child_process'])", message: 'no shell: use spawn(file, argv)' }],
      'no-restricted-imports': ['error', { paths: [{ name: 'node:child_process', importNames: ['exec', 'execSync'], message: 'no shell in process spawning: use spawn/execFile with an argv array' }, { name: 'child_process', message: 'import from node:child_process' }] }],
    },
  },
);
