/**
 * Exposed names per tenant (docs/tenants.md, "Names"): what one tenant's upstreams publish never
 * changes the names another tenant sees, and shared upstreams keep their names against a
 * tenant's private ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog, type UpstreamPart } from '../../src/catalog/catalog.js';
import { viewOf } from '../../src/catalog/view.js';

const lists = (names: string[]): UpstreamPart['lists'] => ({
  tools: names.map((n) => ({ name: n, inputSchema: { type: 'object' } })),
  prompts: names.map((n) => ({ name: n })),
  resources: [],
  templates: [],
});
const part = (name: string, prefix: string, tenant: string, tools: string[], shareWith: string[] = []): UpstreamPart => ({
  name,
  prefix,
  tags: [],
  tenant,
  shareWith: new Set(shareWith),
  lists: lists(tools),
  capabilities: { tools: {}, prompts: {} },
});
const names = (c: Catalog, tenant: string, kind: 'tools' | 'prompts' = 'tools'): string[] => viewOf(c, undefined, tenant)[kind].map((t) => `${t.upstream}:${t.exposed}`);

const gfs = part('gfs', 'gfs', 'globex', ['read', 'delete']);

test("another tenant's upstream cannot take or displace a tenant's exposed names (reviewer's case)", () => {
  const alone = Catalog.build(1, [gfs], '__');
  // acme's upstream has no prefix and publishes globex's exposed name; its key ("aaa…") sorts first.
  const both = Catalog.build(2, [gfs, part('aaa', '', 'acme', ['gfs__delete', 'gfs__read-2', 'gfs__delete-2'])], '__');
  for (const kind of ['tools', 'prompts'] as const) {
    assert.deepEqual(names(alone, 'globex', kind), ['gfs:gfs__read', 'gfs:gfs__delete']);
    assert.deepEqual(names(both, 'globex', kind), ['gfs:gfs__read', 'gfs:gfs__delete'], `${kind}: globex keeps its names`);
    assert.deepEqual(names(both, 'acme', kind), ['aaa:gfs__delete', 'aaa:gfs__read-2', 'aaa:gfs__delete-2'], `${kind}: acme keeps what it publishes`);
  }
  assert.ok(viewOf(both, undefined, 'globex').tool('gfs__delete')?.original === 'delete');
  assert.equal(viewOf(both, undefined, 'globex').tool('gfs__delete-2'), undefined);
  assert.deepEqual(both.collisions, [], 'no tenant sees both, so nothing collides');
});

test('shared upstreams keep their names; a private one colliding with them takes the suffix', () => {
  const search = part('search', 'search', 'default', ['query'], ['*']);
  const common = part('common', 'common', 'default', ['echo'], ['acme', 'globex']);
  // acme's private upstream publishes both shared names and sorts before both.
  const acmePriv = part('aaa', '', 'acme', ['search__query', 'common__echo']);
  const without = Catalog.build(1, [search, common], '__');
  const c = Catalog.build(2, [search, common, acmePriv], '__');
  assert.deepEqual(names(c, 'acme'), ['search:search__query', 'common:common__echo', 'aaa:search__query-2', 'aaa:common__echo-2']);
  for (const cat of [without, c]) {
    assert.deepEqual(names(cat, 'globex'), ['search:search__query', 'common:common__echo']);
    assert.deepEqual(names(cat, 'initech'), ['search:search__query'], 'a tenant nothing is shared with sees the "*" upstreams');
  }
  const tools = c.collisions.filter((x) => x.kind === 'tool');
  assert.deepEqual(tools, [
    { kind: 'tool', tenant: 'acme', exposed: 'common__echo', upstreams: ['common', 'aaa'], resolvedTo: ['common__echo', 'common__echo-2'] },
    { kind: 'tool', tenant: 'acme', exposed: 'search__query', upstreams: ['search', 'aaa'], resolvedTo: ['search__query', 'search__query-2'] },
  ]);
});

test("an upstream shared with one tenant does not change the names of a '*' upstream another tenant sees", () => {
  const search = part('search', 's', 'default', ['q', 'q-2'], ['*']);
  // Owned by acme, shared with partner only; publishes the "*" upstream's name and sorts first.
  const partnerFeed = part('aaa', '', 'acme', ['s__q'], ['partner']);
  const before = Catalog.build(1, [search], '__');
  const after = Catalog.build(2, [search, partnerFeed], '__');
  assert.deepEqual(names(after, 'globex'), names(before, 'globex'));
  assert.deepEqual(names(after, 'globex'), ['search:s__q', 'search:s__q-2']);
  assert.deepEqual(names(after, 'partner'), ['search:s__q', 'search:s__q-2', 'aaa:s__q-3']);
  assert.deepEqual(names(after, 'acme'), ['search:s__q', 'search:s__q-2', 'aaa:s__q-3']);
});

test('within one tenant, names are as before: deterministic, distinct, smallest key keeps a collision', () => {
  const a = part('b-up', '', 'default', ['x']);
  const b = part('a-up', '', 'default', ['x']);
  const c1 = Catalog.build(1, [a, b], '__');
  const c2 = Catalog.build(2, [b, a], '__');
  const byUp = (c: Catalog): Record<string, string> => Object.fromEntries(viewOf(c, undefined, 'default').tools.map((t) => [t.upstream, t.exposed]));
  assert.deepEqual(byUp(c1), { 'a-up': 'x', 'b-up': 'x-2' });
  assert.deepEqual(byUp(c2), byUp(c1));
  assert.deepEqual(c1.collisions.filter((x) => x.kind === 'tool'), [{ kind: 'tool', tenant: 'default', exposed: 'x', upstreams: ['a-up', 'b-up'], resolvedTo: ['x', 'x-2'] }]);
});
