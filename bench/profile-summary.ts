/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, as written by `npm run bench -- --cpu-prof`):
 * self time by function and by file, top N, so the gateway's hot spots can be named.
 *
 *   node --import tsx bench/profile-summary.ts .bench-out/prof/<file>.cpuprofile [N] [--skip-ms MS]
 *
 * `--skip-ms` leaves out the first MS milliseconds of samples (module loading at start-up).
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const skipAt = args.indexOf('--skip-ms');
const skipUs = skipAt >= 0 ? Number(args.splice(skipAt, 2)[1]) * 1000 : 0;
const [file, topArg] = args;
if (!file) {
  process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [N]\n');
  process.exit(2);
}
const top = Number(topArg) || 30;
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));

const selfUs = new Map<number, number>();
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i]!;
  at += prof.timeDeltas[i] ?? 0;
  if (at < skipUs) continue;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
let total = 0;
for (const v of selfUs.values()) total += v;

const shortUrl = (u: string): string => u.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/').replace(/^node:/, 'node:');
const fnKey = (n: Node): string => `${n.callFrame.functionName || '(anonymous)'}  ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const fileKey = (n: Node): string => {
  const u = shortUrl(n.callFrame.url);
  if (!u) return n.callFrame.functionName || '(native)';
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  return m ? `node_modules/${m[1]}` : u;
};

function tally(key: (n: Node) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (n) m.set(key(n), (m.get(key(n)) ?? 0) + us);
  }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
}

/** Inclusive time: each sample counts once for every distinct function on its stack. */
function inclusive(): [string, number][] {
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const m = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (!n.callFrame.url) continue;
      const k = fnKey(n);
      if (seen.has(k)) continue;
      seen.add(k);
      m.set(k, (m.get(k) ?? 0) + us);
    }
  }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
}

const idleUs = [...selfUs].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((s, [, us]) => s + us, 0);
const busy = total - idleUs;
// Percentages are of busy (non-idle) time: the share of the gateway's actual work.
const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
process.stdout.write(`total sampled: ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (percentages below are of busy time)\n\nself time by function:\n`);
for (const [k, us] of tally(fnKey)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\ninclusive time by function (JS frames):\n');
for (const [k, us] of inclusive()) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\nself time by file / package:\n');
for (const [k, us] of tally(fileKey)) process.stdout.write(`${pct(us)}  ${k}\n`);
