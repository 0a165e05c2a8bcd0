// Lint of the web app (www/js, ES modules in the browser) and of the tests
// (Node): mistakes a browser would only show at run time, such as a call
// to a function that is not defined any more.
import js from '@eslint/js';
import globals from 'globals';

export default [
  {
    files: ['www/js/**/*.js', 'www/docs/**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.browser },
    rules: { ...js.configs.recommended.rules },
  },
  {
    files: ['tests/**/*.mjs'],
    ignores: ['tests/node_modules/**'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
    rules: { ...js.configs.recommended.rules },
  },
];
