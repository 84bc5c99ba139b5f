import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXAMPLE_CONFIG, generateJsonSchemaText, generateMarkdown } from '../../src/config/docs.js';
import { loadConfigText } from '../../src/config/load.js';

const docs = (name: string) => readFileSync(fileURLToPath(new URL(`../../docs/${name}`, import.meta.url)), 'utf8');

test('docs/config.schema.json matches the schema', () => {
  assert.equal(docs('config.schema.json'), generateJsonSchemaText(), 'docs/config.schema.json is stale: run `npm run gen:docs`');
});

test('docs/config.md matches the schema', () => {
  assert.equal(docs('config.md'), generateMarkdown(), 'docs/config.md is stale: run `npm run gen:docs`');
});

test('the example in docs/config.md is a valid config', () => {
  const snap = loadConfigText(EXAMPLE_CONFIG, { path: '/srv/portcullis.yaml', env: { SEARCH_TOKEN: 't' } });
  assert.equal(snap.upstreams.length, 2);
  assert.equal(snap.virtualServers.length, 1);
});
