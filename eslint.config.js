import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'demo/**', 'bench/results/**', 'bench/**/*.tmp.mjs', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Time is injected: code that stamps or decides by time takes a Clock (src/orchestrator/clock.ts).
    files: ['src/orchestrator/**/*.ts', 'src/layers/**/*.ts', 'src/state/**/*.ts', 'src/sources/**/*.ts', 'src/integrate/**/*.ts'],
    ignores: ['src/orchestrator/clock.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use the injected Clock (ctx.clock.now()), not Date.now().' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use the injected Clock (ctx.clock.now()), not new Date().' },
      ],
    },
  },
);
