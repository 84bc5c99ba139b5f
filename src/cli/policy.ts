/**
 * `portcullis policy explain`: evaluates the config's policy for one principal and tool, without
 * starting anything, and prints the decision with the rules that produced it. Exit codes are part
 * of the interface: 0 allowed, 3 denied or approval required, 2 usage or config error.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { ConfigError, formatIssue, loadConfigText } from '../config/load.js';
import type { Snapshot } from '../config/compile.js';
import type { Principal } from '../pipeline/context.js';
import { PolicyEngine, type Trace } from '../policy/engine.js';
import { PolicyService } from '../policy/service.js';
import { openStore } from '../storage/index.js';
import { createLogger } from '../observability/logger.js';

/** Where the command writes; tests and embedding callers can capture it. */
export interface ExplainIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: ExplainIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export interface ExplainOptions {
  config: string;
  principal: string;
  tool: string;
  server?: string;
  upstream?: string;
  args?: string;
  annotations?: string;
  json?: boolean;
  stored?: boolean;
}

const PrincipalInput = z
  .object({
    subject: z.string().min(1).max(256),
    tenant: z.string().min(1).max(128).default('default'),
    roles: z.array(z.string().max(128)).max(256).default([]),
    groups: z.array(z.string().max(128)).max(256).default([]),
    clientId: z.string().max(256).optional(),
    authMethod: z.enum(['anonymous', 'oauth', 'api-key']).default('oauth'),
    claims: z.record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.array(z.string().max(256)).max(32)])).optional(),
  })
  .strict();

const Obj = z.record(z.string(), z.unknown());

function parseJson<T>(text: string, schema: z.ZodType<T>, what: string): T | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return `${what} is not valid JSON`;
  }
  const r = schema.safeParse(v);
  return r.success ? r.data : `${what}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`;
}

/** The upstream a catalogue name belongs to: the longest configured prefix it starts with. */
function upstreamOf(snap: Snapshot, tool: string): Snapshot['upstreams'][number] | undefined {
  let best: Snapshot['upstreams'][number] | undefined;
  for (const u of snap.upstreams) {
    const head = u.prefix === '' ? '' : u.prefix + snap.gateway.separator;
    if (tool.startsWith(head) && (!best || head.length > (best.prefix === '' ? 0 : best.prefix.length + snap.gateway.separator.length))) best = u;
  }
  return best;
}

/** Runs one explanation and returns the exit code. */
export async function explainPolicy(o: ExplainOptions, env: NodeJS.ProcessEnv = process.env, io: ExplainIo = stdio): Promise<0 | 2 | 3> {
  let snap: Snapshot;
  try {
    snap = loadConfigText(readFileSync(o.config, 'utf8'), { path: o.config, env });
  } catch (e) {
    if (e instanceof ConfigError) for (const i of e.issues) io.err(formatIssue(i));
    else io.err(`error: cannot read ${o.config}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 2;
  }
  const p = parseJson(o.principal, PrincipalInput, '--principal');
  const args = o.args === undefined ? {} : parseJson(o.args, Obj, '--args');
  const annotations = o.annotations === undefined ? {} : parseJson(o.annotations, Obj, '--annotations');
  for (const v of [p, args, annotations]) {
    if (typeof v === 'string') {
      io.err(`error: ${v}`);
      return 2;
    }
  }
  const principal = p as Principal;
  const server = o.server ?? 'default';
  const upstream = o.upstream ? snap.upstreams.find((u) => u.name === o.upstream) : upstreamOf(snap, o.tool);
  if (o.upstream && !upstream) {
    io.err(`error: unknown upstream "${o.upstream}"`);
    return 2;
  }
  if (server !== 'default' && !snap.virtualServers.some((v) => v.name === server)) {
    io.err(`error: unknown virtual server "${server}"`);
    return 2;
  }

  if (!snap.policy.enabled) {
    if (o.json) io.out(JSON.stringify({ decision: 'allow', policy: false, rules: [] }));
    else io.out('decision: allow (the config has no policy section)');
    return 0;
  }
  let engine: PolicyEngine;
  if (o.stored) {
    const store = await openStore({ kind: snap.gateway.storage, dataDir: snap.gateway.dataDir });
    try {
      const svc = new PolicyService(store.policyRules, createLogger('silent'));
      await svc.load();
      engine = svc.engine(snap)!;
    } finally {
      await store.close();
    }
  } else engine = new PolicyEngine(snap.policy.rules, snap);

  const renamed = snap.virtualServers.find((v) => v.name === server)?.rename.get(o.tool);
  const trace: Trace[] = [];
  const d = engine.decideTarget(
    {
      kind: 'tool',
      server,
      upstream: upstream?.name ?? '',
      name: renamed ?? o.tool,
      catalogName: o.tool,
      tags: upstream?.tags ?? [],
      annotations: annotations as Record<string, unknown>,
    },
    principal,
    args,
    trace,
  );
  if (o.json) {
    io.out(JSON.stringify({ decision: d.effect, rule: d.rule ?? null, reason: d.reason ?? null, guards: d.guards.length, shadow: d.shadow ?? [], upstream: upstream?.name ?? null, rules: trace }));
  } else {
    io.out(`decision: ${d.effect}`);
    io.out(`rule: ${d.rule ?? '(none: default deny)'}`);
    if (d.reason) io.out(`reason: ${d.reason}`);
    io.out(`tool: ${o.tool} (upstream ${upstream?.name ?? 'unknown'}, server ${server})`);
    if (d.guards.length > 0) io.out(`guards: ${d.guards.length} set(s) apply`);
    io.out(trace.length === 0 ? 'rules: none matched principal and target' : 'rules (principal and target matched):');
    for (const t of trace) io.out(`  ${t.rule}  ${t.effect}  ${t.mode}  ${t.source}${t.when ? `  when=${t.when}` : ''}`);
  }
  return d.effect === 'allow' ? 0 : 3;
}

/** `policy explain` under a `policy` group. */
export function policyCommand(): Command {
  const cmd = new Command('policy').description('Work with authorization policy.');
  cmd
    .command('explain')
    .description('Print the decision for one call and the rules that produced it: exit 0 allowed, 3 denied or approval required, 2 usage error.')
    .requiredOption('--config <file>', 'the YAML config file')
    .requiredOption('--principal <json>', 'the caller, e.g. {"subject":"a","tenant":"t","roles":["dev"]}')
    .requiredOption('--tool <name>', 'the tool catalogue name (prefix + separator + name)')
    .option('--server <name>', 'endpoint: default (/mcp) or a virtual server name')
    .option('--upstream <name>', 'the upstream (default: found from the tool name prefix)')
    .option('--args <json>', 'the call arguments as a JSON object')
    .addOption(new Option('--annotations <json>', 'the tool annotations as a JSON object'))
    .option('--stored', 'also evaluate rules added through the admin API (reads the configured store)')
    .option('--json', 'print JSON')
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .action(async (o: ExplainOptions) => {
      process.exitCode = await explainPolicy(o);
    });
  return cmd;
}
