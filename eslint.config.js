// ESLint flat config. `npm run lint` runs it (with Prettier and clang-format);
// layout is Prettier's job (.prettierrc.json), so no formatting rule is on here.
//
// - src, test, examples, bench (the TypeScript that tsconfig.json compiles):
//   typescript-eslint's recommendedTypeChecked plus a few rules that catch
//   real bugs in event-loop code (lost promises, promise callbacks, missed
//   union members, numeric sorts).
// - scripts/*.mjs and this file: ESLint's recommended rules for Node.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig([
  globalIgnores(['dist/', 'build/', 'bench/build/', 'bench/results/', 'docs/api/', 'prebuilds/']),

  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // A promise that nobody awaits or catches loses its error. node:test's
      // test()/describe()/hooks return promises that the runner tracks itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      // An async function handed where a plain callback is expected (event
      // handlers, loop callbacks, timers): nothing awaits it or sees its error.
      '@typescript-eslint/no-misused-promises': 'error',
      // `return promise` inside try/catch/finally: a rejection would skip the
      // catch, and the finally would run before the promise settles.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // A switch over a union (engine names, metric kinds) that misses a member.
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // fds and timer keys are numbers: [..].sort() without a compare function
      // sorts them as strings (10 before 9).
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
      // Deprecated Node APIs (@deprecated in @types/node), before they go away.
      '@typescript-eslint/no-deprecated': 'error',
      // `===` everywhere (the code has no `==`), except `== null` for null or undefined.
      eqeqeq: ['error', 'smart'],
      // `import type` / `type` specifiers for type-only imports, so that no
      // module is loaded (or import cycle made) for a type. Both spellings the
      // code uses are fine; `typeof import('x')` types are allowed (they load
      // nothing).
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // Public types must not use `any`: `unknown` plus a check instead.
      '@typescript-eslint/no-explicit-any': 'error',
      // A leading underscore marks a parameter or binding as unused on purpose
      // (interface methods that ignore an argument, `{ drop: _drop, ...rest }`).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Off: mostly noise here, and some of its advice would add bugs. Measured
      // on this code it gave 78 findings (33 with noUncheckedIndexedAccess),
      // none a real bug:
      // - the public API checks its arguments at run time for JavaScript
      //   callers (`fn !== null && fn !== undefined`, `how !== 'both'`,
      //   `options === null`), which the types say cannot happen;
      // - TypeScript keeps a narrowing across method calls, so in
      //   `if (state & POLLIN && !obj.closed) obj.eventRead(); if (state &
      //   POLLOUT && !obj.closed) ...` (core/loop.ts) it calls the second
      //   `!obj.closed` always true, though eventRead() may have closed obj;
      //   the same for flags that callbacks set in the tests;
      // - `(err as Error)?.message` where the value may really be null.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },

  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      globals: globals.node,
    },
  },
]);
