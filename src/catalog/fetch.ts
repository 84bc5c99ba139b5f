/**
 * Reads an upstream's tools, prompts, resources and resource templates through a link,
 * following the upstream's own pagination (bounded), for the kinds its capabilities declare.
 */
import { isObject, type CallOutcome } from '../mcp/jsonrpc.js';
import type { CallSink, UpstreamLink } from '../upstreams/types.js';

export type Def = Record<string, unknown>;

export interface UpstreamLists {
  tools: Def[];
  prompts: Def[];
  resources: Def[];
  templates: Def[];
}

const MAX_PAGES = 100;
const MAX_ITEMS = 10_000;

/** Control-plane calls have no downstream client: nothing they cause has anywhere to go. */
export const NULL_SINK: CallSink = {
  notify: () => undefined,
  request: async (): Promise<CallOutcome> => ({ error: { code: -32601, message: 'no client for control-plane calls' } }),
};

async function listAll(link: UpstreamLink, method: string, key: string, signal: AbortSignal): Promise<Def[]> {
  const out: Def[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const o = await link.call(method, cursor === undefined ? {} : { cursor }, { sink: NULL_SINK, signal });
    if ('error' in o) throw new Error(`${method} failed: ${o.error.message}`);
    const items = o.result[key];
    if (!Array.isArray(items)) throw new Error(`${method}: result.${key} is not an array`);
    for (const it of items) if (isObject(it) && out.length < MAX_ITEMS) out.push(it);
    const next = o.result.nextCursor;
    if (typeof next !== 'string') return out;
    cursor = next;
  }
  return out;
}

export async function fetchLists(link: UpstreamLink, signal: AbortSignal): Promise<UpstreamLists> {
  const caps = link.info.capabilities;
  const [tools, prompts, resources, templates] = await Promise.all([
    caps.tools ? listAll(link, 'tools/list', 'tools', signal) : [],
    caps.prompts ? listAll(link, 'prompts/list', 'prompts', signal) : [],
    caps.resources ? listAll(link, 'resources/list', 'resources', signal) : [],
    caps.resources ? listAll(link, 'resources/templates/list', 'resourceTemplates', signal).catch(() => []) : [],
  ]);
  return { tools, prompts, resources, templates };
}
