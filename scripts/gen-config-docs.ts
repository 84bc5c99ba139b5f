/**
 * `npm run gen:docs`: writes docs/config.schema.json and docs/config.md from the config schema.
 * test/unit/docs-drift.test.ts fails when the committed files differ from what this produces.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateJsonSchemaText, generateMarkdown } from '../src/config/docs.js';

const docs = fileURLToPath(new URL('../docs/', import.meta.url));
mkdirSync(docs, { recursive: true });
writeFileSync(`${docs}config.schema.json`, generateJsonSchemaText());
writeFileSync(`${docs}config.md`, generateMarkdown());
console.log('wrote docs/config.schema.json and docs/config.md');
