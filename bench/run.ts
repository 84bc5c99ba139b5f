/**
 * `npm run bench`: the gateway side by side with direct upstream access, in one bounded run on
 * loopback (security-checklist J1/J3). Upstreams and gateways are separate processes, so their
 * CPU time is read from /proc; this process is the load generator.
 *
 * Options: --quick (short phases, for a smoke run), --seconds N (measured seconds per side,
 * default 8), --dist (run the built gateway, bin/portcullis.js, instead of the sources via tsx),
 * --cpu-prof (write a V8 CPU profile of gateway A to .bench-out/prof/), --only a,b (run only the
 * named workloads: call1k, call100k, gov, audit, list, ping, paced, stdio, idle), --gw-arg ARG (an extra
 * node option for gateway A, repeatable, e.g. --gw-arg --max-old-space-size=256), --auth (gateway A
 * requires a bearer JWT, see bench/auth.ts), --audit (every gateway writes the audit log, as shipped; by
 * default only the `audit` workload's second gateway does), --rounds N (alternating off/on rounds of the
 * `gov` and `audit` workloads, default 3, at most 9; each round's difference is printed too).
 *
 * Floors: the 1 KB call also runs against bench/floor-proxy.ts (a minimal Node HTTP proxy on the
 * same upstream), the `audit` rounds also run that proxy without and with its minimal write-ahead
 * log, and warm stdio runs bench/floor-relay.ts. The target table prints each floor next to the
 * gateway's figure: the best any Node process doing the same job reached in the same run.
 *
 * Exit status: 0 when the harness worked (targets are informational: MISS still exits 0);
 * 1 when the harness failed, e.g. a wrong or failed response.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { startBenchAuth, type BenchAuth } from './auth.js';
import { callOp, setAuthorization, closeConns, closedLoop, initSession, listOp, openConns, openGetStream, pacedLoop, pingOp, type LoopResult, type Op } from './client.js';
import { cpuMicros, deadProcesses, killAllNow, rssKiB, spawnNode, stopAll, type Proc } from './procs.js';
import { StdioDriver } from './stdio-direct.js';
import { summarise, type Summary } from './stats.js';
import { printReport, type Report, type SideResult, type WorkloadResult } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = import.meta.resolve('tsx');
const UPSTREAM = join(ROOT, 'bench', 'upstream.ts');
/** A watchdog, not a budget: a default run takes about 6 minutes, one with --rounds 9 about 12. */
const RUN_LIMIT_MS = 15 * 60_000;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const useDist = argv.includes('--dist');
const cpuProf = argv.includes('--cpu-prof');
const withAuth = argv.includes('--auth');
const auditAll = argv.includes('--audit');
const secondsArg = argv.indexOf('--seconds');
const onlyArg = argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set(String(argv[onlyArg + 1] ?? '').split(',')) : undefined;
const gwArgs = argv.flatMap((a, i) => (a === '--gw-arg' && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
const want = (key: string): boolean => only === undefined || only.has(key);
const MEASURE_MS = secondsArg >= 0 ? Math.max(1, Math.min(60, Number(argv[secondsArg + 1]) || 8)) * 1000 : quick ? 3000 : 8000;
const WARM_MS = quick ? 1000 : 2000;
const CONCURRENCY = 32;
const PACED_RATE = 500;
const PACED_MS = quick ? 4000 : 10_000;
const STDIO_CALLS = quick ? 1000 : 3000;
const IDLE_SESSIONS = 1000;
const SETTLE_MS = 2500;
const roundsArg = argv.indexOf('--rounds');
/** Alternating off/on rounds of the `gov` and `audit` workloads (the verdict is on their means). */
const GOV_ROUNDS = roundsArg >= 0 ? Math.max(1, Math.min(9, Math.floor(Number(argv[roundsArg + 1])) || 3)) : quick ? 1 : 3;
const GOV_ROW = 'governance on: tools/call 1 KB (policy + CEL + guards + schema + rate limits)';
/** Gateway CPU per call that governance adds, from the `gov` workload (same run). */
let governanceAddedUs: number | undefined;
const AUDIT_ROW = 'audit on: tools/call 1 KB (write-ahead decision records, group commit)';
/** Gateway CPU per call that the audit log adds, and throughput on/off, from the `audit` workload. */
let auditAddedUs: number | undefined;
let auditThroughput: number | undefined;
/** The same two measures for bench/floor-proxy.ts without and with its minimal write-ahead log. */
let auditFloor: { addedUs: number; throughput: number } | undefined;
/** Gateway N's tenant-log writer counters over its whole run (records, fdatasyncs). */
let auditSyncs: string | undefined;

/** The governance workload's config: what a production policy looks like, none of it refusing the bench's calls. */
const GOVERNANCE = {
  policy: {
    rules: [
      { id: 'deny-admin-tools', effect: 'deny', tools: ['*__admin_*'], reason: 'admin tools are not for agents' },
      {
        id: 'bench-tools',
        effect: 'allow',
        tools: ['u*__tool_*'],
        when: 'int(args.bytes) <= 1048576 && principal.tenant == "default"',
        guards: { noLeadingDash: true, noDotDot: true, noControlChars: true, maxStringLength: 65536, maxArrayLength: 1000 },
      },
      { id: 'everything-else', effect: 'allow', mode: 'shadow', tools: ['*'] },
    ],
  },
  rateLimits: {
    rules: [
      { name: 'per-principal', by: ['tenant', 'principal'], rate: '100000000/1s' },
      { name: 'per-tool', by: ['tenant', 'tool'], rate: '100000000/1s', quota: '900000000/1d' },
    ],
  },
};

/** The run's scratch directory (configs), removed on every exit path. */
let tmpDir: string | undefined;
const removeTmp = (): void => {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts one HTTP benchmark upstream and returns its MCP URL. */
async function startHttpUpstream(name: string, tools: number): Promise<{ proc: Proc; url: string }> {
  const proc = spawnNode(`upstream ${name}`, ['--import', TSX, UPSTREAM, '--http', '--tools', String(tools), '--name', name], { cwd: ROOT });
  const url = await proc.waitForLine((l) => (JSON.parse(l) as { url?: string }).url, 20_000);
  return { proc, url };
}

/**
 * Starts bench/floor-proxy.ts in front of `upstreamUrl` (tool names lose the `u1__` prefix the
 * gateway adds); with `walDir`, it keeps the minimal write-ahead log there.
 */
async function startFloorProxy(label: string, upstreamUrl: string, walDir?: string): Promise<{ proc: Proc; url: string }> {
  if (walDir !== undefined) mkdirSync(walDir, { recursive: true });
  const proc = spawnNode(label, ['--import', TSX, join(ROOT, 'bench', 'floor-proxy.ts'), '--upstream', upstreamUrl, '--strip', 'u1__', ...(walDir !== undefined ? ['--wal', walDir] : [])], { cwd: ROOT });
  const url = await proc.waitForLine((l) => (JSON.parse(l) as { url?: string }).url, 30_000);
  return { proc, url };
}

/** Writes a config and starts a gateway process; resolves once every upstream is healthy. */
async function startGateway(
  label: string,
  tmp: string,
  upstreams: Record<string, unknown>[],
  extraNodeArgs: string[] = [],
  auth?: Record<string, unknown>,
  more: Record<string, unknown> = {},
): Promise<{ proc: Proc; url: string }> {
  const cfgPath = join(tmp, `${label}.yaml`);
  // JSON is YAML: no serializer needed.
  // The audit log is off unless --audit: the workloads measure the data plane, and the `audit`
  // workload measures what the write-ahead log adds (an fdatasync per tools/call batch).
  const config = { gateway: { host: '127.0.0.1', port: 0, storage: 'memory', dataDir: join(tmp, `${label}-data`) }, log: { level: 'info' }, upstreams, audit: { enabled: auditAll }, ...(auth ? { auth } : {}), ...more };
  writeFileSync(cfgPath, JSON.stringify(config, null, 2));
  const entry = useDist ? [join(ROOT, 'bin', 'portcullis.js')] : ['--import', TSX, join(ROOT, 'src', 'cli', 'index.ts')];
  const env: NodeJS.ProcessEnv = { ...process.env, PORTCULLIS_LOG_LEVEL: 'info' };
  delete env.PORTCULLIS_PORT;
  const proc = spawnNode(`gateway ${label}`, [...extraNodeArgs, ...entry, 'start', '--config', cfgPath], { cwd: ROOT, env });
  const url = await proc.waitForLine((l) => {
    const j = JSON.parse(l) as { msg?: string; url?: string };
    return j.msg === 'gateway.listening' ? j.url : undefined;
  }, 30_000);
  await waitReady(url, upstreams.length, 30_000);
  return { proc, url };
}

/** The gateway's live legacy session count (from /readyz), to show sessions are released after DELETE. */
async function liveSessions(url: string): Promise<number | undefined> {
  const c = new Client(url);
  try {
    const r = await c.request({ path: '/readyz', method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
    const n = (JSON.parse(await r.body.text()) as { sessions?: unknown }).sessions;
    return typeof n === 'number' ? n : undefined;
  } catch {
    return undefined;
  } finally {
    await c.destroy().catch(() => undefined);
  }
}

async function waitReady(url: string, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  const c = new Client(url);
  try {
    while (Date.now() < end) {
      try {
        const r = await c.request({ path: '/readyz', method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
        last = await r.body.text();
        const body = JSON.parse(last) as { upstreams?: { health?: string }[] };
        const healthy = (body.upstreams ?? []).filter((u) => u.health === 'healthy').length;
        if (healthy === n) return;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(100);
    }
  } finally {
    await c.destroy().catch(() => undefined);
  }
  throw new Error(`gateway at ${url} not ready within ${timeoutMs} ms: ${last.slice(0, 300)}`);
}

type CpuGroups = Record<string, readonly number[]>;

function readCpu(groups: CpuGroups): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, pids] of Object.entries(groups)) out[k] = pids.reduce((s, p) => s + cpuMicros(p), 0);
  const c = process.cpuUsage();
  out.client = c.user + c.system;
  return out;
}

function sideResult(r: LoopResult, cpu0: Record<string, number>, cpu1: Record<string, number>): SideResult {
  const summary: Summary = summarise(r.samples, r.errors, r.seconds);
  const calls = Math.max(1, summary.requests + r.errors);
  const cpuUsPerCall: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) cpuUsPerCall[k] = (cpu1[k]! - cpu0[k]!) / calls;
  return { ...summary, cpuUsPerCall, maxBacklog: r.maxBacklog, ...(r.firstError ? { firstError: r.firstError } : {}) };
}

/** One side of a workload: open sessions, warm up, measure with CPU readings around it, close. */
async function runSide(
  label: string,
  origin: string,
  path: string,
  op: Op,
  conns: number,
  cpuGroups: CpuGroups,
  load: 'closed' | 'paced',
): Promise<SideResult> {
  process.stderr.write(`  ${label} ...\n`);
  const cs = await openConns(origin, path, conns);
  try {
    const warm = load === 'paced' ? await pacedLoop(cs, op, PACED_RATE, WARM_MS) : await closedLoop(cs, op, { durationMs: WARM_MS });
    if (warm.errors > 0) throw new Error(`${label}: warm-up failed: ${warm.firstError}`);
    const cpu0 = readCpu(cpuGroups);
    const r = load === 'paced' ? await pacedLoop(cs, op, PACED_RATE, PACED_MS) : await closedLoop(cs, op, { durationMs: MEASURE_MS });
    const cpu1 = readCpu(cpuGroups);
    return sideResult(r, cpu0, cpu1);
  } finally {
    await closeConns(cs);
  }
}

function combine(name: string, direct: SideResult, gateway: SideResult, note?: string, gatewayPid?: number): WorkloadResult {
  return {
    name,
    ...(gatewayPid !== undefined ? { gatewayRssAfterMB: (rssKiB(gatewayPid) * 1024) / 1e6 } : {}),
    direct,
    gateway,
    ratio: gateway.rps / direct.rps,
    addedP50Ms: gateway.p50Ms - direct.p50Ms,
    addedP99Ms: gateway.p99Ms - direct.p99Ms,
    addedMeanMs: gateway.meanMs - direct.meanMs,
    gatewayCpuUsPerCall: gateway.cpuUsPerCall.gateway ?? NaN,
    ...(note ? { note } : {}),
  };
}

/** 1,000 idle legacy sessions on gateway A: RSS after the sessions alone, then with a GET stream each. */
async function idleSessions(url: string, gwPid: number): Promise<Report['idleSessions']> {
  process.stderr.write(`idle sessions: ${IDLE_SESSIONS} ...\n`);
  const mcp = new URL('/mcp', url);
  const pool = Array.from({ length: 16 }, () => new Client(url, { pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  const sessions: { sessionId: string; headers: Record<string, string> }[] = [];
  const streams: { destroy(): void }[] = [];
  const op = callOp('u1__tool_000', 1024);
  /** One checked tools/call on a session. */
  const callOn = async (c: Client, sess: { headers: Record<string, string> }, id: number): Promise<void> => {
    const r = await c.request({ path: '/mcp', method: 'POST', headers: sess.headers, body: op.body(id) });
    const text = await r.body.text();
    const bad = r.statusCode !== 200 ? `HTTP ${r.statusCode}` : op.check(text, id, true);
    if (bad) throw new Error(`call on an idle-test session failed: ${bad}`);
  };
  try {
    // Warm-up (code paths compiled, pools sized): sessions that call, then are deleted.
    for (let i = 0; i < 100; i++) {
      const c = pool[i % pool.length]!;
      const sess = await initSession(c, '/mcp');
      await callOn(c, sess, 10 + i);
      const d = await c.request({ path: '/mcp', method: 'DELETE', headers: sess.headers });
      await d.body.dump();
    }
    await sleep(SETTLE_MS);
    const rssBefore = rssKiB(gwPid);
    let next = 0;
    await Promise.all(
      pool.map(async (c) => {
        while (next < IDLE_SESSIONS) {
          next++;
          sessions.push(await initSession(c, '/mcp'));
        }
      }),
    );
    await sleep(SETTLE_MS);
    const rssSessions = rssKiB(gwPid);
    let s = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (s < sessions.length) {
          const sess = sessions[s++]!;
          streams.push(await openGetStream(mcp, sess.sessionId, 10_000));
        }
      }),
    );
    await sleep(SETTLE_MS);
    const rssStreams = rssKiB(gwPid);
    // The sessions must still be real: a call on a few of them has to work.
    for (let i = 0; i < 5; i++) await callOn(pool[0]!, sessions[Math.floor((i * sessions.length) / 5)]!, 1000 + i);
    const mb = (kib: number): number => (kib * 1024) / 1e6;
    const per1000 = (kib: number): number => (mb(kib) * 1000) / IDLE_SESSIONS;
    return {
      sessions: IDLE_SESSIONS,
      getStreams: streams.length,
      rssBeforeMB: mb(rssBefore),
      rssAfterSessionsMB: mb(rssSessions),
      rssAfterStreamsMB: mb(rssStreams),
      sessionsOnlyMBPer1000: per1000(rssSessions - rssBefore),
      withStreamsMBPer1000: per1000(rssStreams - rssBefore),
    };
  } finally {
    for (const st of streams) st.destroy();
    await Promise.allSettled(pool.map((c) => c.destroy()));
  }
}

async function main(): Promise<number> {
  const started = new Date();
  const tmp = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  tmpDir = tmp;
  const workloads: WorkloadResult[] = [];
  let idle: Report['idleSessions'] | undefined;
  let gatewayASessions: number | undefined;
  let failure: string | undefined;
  let benchAuth: BenchAuth | undefined;
  try {
    process.stderr.write('starting upstreams and gateway A ...\n');
    const ups = await Promise.all([1, 2, 3, 4, 5].map((i) => startHttpUpstream(`u${i}`, 20)));
    const direct100 = await startHttpUpstream('direct100', 100);
    const profDir = join(ROOT, '.bench-out', 'prof');
    if (cpuProf) mkdirSync(profDir, { recursive: true });
    if (withAuth) {
      benchAuth = await startBenchAuth();
      setAuthorization(benchAuth.header);
    }
    const gwA = await startGateway(
      'A',
      tmp,
      ups.map((u, i) => ({ name: `u${i + 1}`, kind: 'streamable-http', url: u.url })),
      [...gwArgs, ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
      benchAuth?.config,
    );
    const u1 = ups[0]!;
    const u1Origin = new URL(u1.url).origin;
    const allUpstreamPids = ups.map((u) => u.proc.pid);

    for (const [key, name, bytes] of [
      ['call1k', 'tools/call 1 KB', 1024],
      ['call100k', 'tools/call 100 KB', 100 * 1024],
    ] as const) {
      if (!want(key)) continue;
      process.stderr.write(`${name} (closed loop, ${CONCURRENCY} sessions) ...\n`);
      const d = await runSide('direct', u1Origin, '/mcp', callOp('tool_000', bytes), CONCURRENCY, { upstream: [u1.proc.pid] }, 'closed');
      const g = await runSide('gateway', gwA.url, '/mcp', callOp('u1__tool_000', bytes), CONCURRENCY, { gateway: [gwA.proc.pid], upstream: [u1.proc.pid] }, 'closed');
      const w = combine(name, d, g, undefined, gwA.proc.pid);
      if (key === 'call1k') {
        // The floor: what any Node proxy that parses what it forwards costs here, on the same upstream.
        const fp = await startFloorProxy('floor proxy', u1.url);
        try {
          const f = await runSide('floor proxy', fp.url, '/mcp', callOp('u1__tool_000', bytes), CONCURRENCY, { gateway: [fp.proc.pid], upstream: [u1.proc.pid] }, 'closed');
          w.floor = { rps: f.rps, ratio: f.rps / d.rps, p50Ms: f.p50Ms, addedP50Ms: f.p50Ms - d.p50Ms, meanMs: f.meanMs, cpuUsPerCall: f.cpuUsPerCall.gateway ?? NaN };
        } finally {
          await fp.proc.stop();
        }
      }
      workloads.push(w);
    }

    if (want('gov')) {
      // Gateway G: gateway A's config plus a policy (a CEL condition and argument guards), JSON
      // Schema validation (always on) and two rate-limit rules set high enough never to refuse.
      // The baseline is gateway A measured again right before, so both sides see the same machine state.
      const gwG = await startGateway('G', tmp, ups.map((u, i) => ({ name: `u${i + 1}`, kind: 'streamable-http', url: u.url })), [], benchAuth?.config, GOVERNANCE);
      try {
        process.stderr.write(`governance: tools/call 1 KB (closed loop, ${CONCURRENCY} sessions) ...\n`);
        const d = await runSide('direct', u1Origin, '/mcp', callOp('tool_000', 1024), CONCURRENCY, { upstream: [u1.proc.pid] }, 'closed');
        // Off and on alternate (A G A G …): a drift in machine load then hits both sides alike.
        const off: SideResult[] = [];
        const on: SideResult[] = [];
        for (let round = 0; round < GOV_ROUNDS; round++) {
          off.push(await runSide('gateway A (governance off)', gwA.url, '/mcp', callOp('u1__tool_000', 1024), CONCURRENCY, { gateway: [gwA.proc.pid], upstream: [u1.proc.pid] }, 'closed'));
          on.push(await runSide('gateway G (governance on)', gwG.url, '/mcp', callOp('u1__tool_000', 1024), CONCURRENCY, { gateway: [gwG.proc.pid], upstream: [u1.proc.pid] }, 'closed'));
        }
        const cpu = (xs: SideResult[]): number => xs.reduce((sum, x) => sum + (x.cpuUsPerCall.gateway ?? NaN), 0) / xs.length;
        const rps = (xs: SideResult[]): number => xs.reduce((sum, x) => sum + x.rps, 0) / xs.length;
        const addedUs = cpu(on) - cpu(off);
        const g = on[on.length - 1]!;
        workloads.push(
          combine(
            GOV_ROW,
            d,
            g,
            `${GOV_ROUNDS} alternating rounds: governance off ${rps(off).toFixed(0)} req/s, ${cpu(off).toFixed(1)} µs gateway CPU per call; on ${rps(on).toFixed(0)} req/s, ${cpu(on).toFixed(1)} µs; governance adds ${addedUs.toFixed(1)} µs`,
            gwG.proc.pid,
          ),
        );
        governanceAddedUs = addedUs;
      } finally {
        await gwG.proc.stop();
      }
    }

    if (want('audit')) {
      // Gateway N: gateway A's config with the audit log on (the shipped default): decision
      // records are fsync'd (group commit) before each call is forwarded. Gateway A: off.
      const gwN = await startGateway('N', tmp, ups.map((u, i) => ({ name: `u${i + 1}`, kind: 'streamable-http', url: u.url })), cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [], benchAuth?.config, { audit: { enabled: true } });
      // The tenant log's writer counters, logged when gateway N closes it: fdatasyncs per call.
      const closedLines: string[] = [];
      let outTail = '';
      gwN.proc.child.stdout.on('data', (s: string) => {
        outTail += s;
        const lines = outTail.split('\n');
        outTail = lines.pop() ?? '';
        for (const l of lines) if (l.includes('"audit.log_closed"')) closedLines.push(l);
      });
      const stdoutClosed = new Promise<void>((r) => gwN.proc.child.once('close', () => r()));
      let fpOff: { proc: Proc; url: string } | undefined;
      let fpWal: { proc: Proc; url: string } | undefined;
      try {
        const floorNoLog = (fpOff = await startFloorProxy('floor proxy (no log)', u1.url));
        const floorWal = (fpWal = await startFloorProxy('floor proxy (write-ahead log)', u1.url, join(tmp, 'floor-wal')));
        process.stderr.write(`audit: tools/call 1 KB (closed loop, ${CONCURRENCY} sessions) ...\n`);
        const d = await runSide('direct', u1Origin, '/mcp', callOp('tool_000', 1024), CONCURRENCY, { upstream: [u1.proc.pid] }, 'closed');
        const off: SideResult[] = [];
        const on: SideResult[] = [];
        // The floor pair: the minimal proxy without and with a minimal write-ahead log
        // (bench/floor-proxy.ts), in the same rounds: what any durable write before forwarding costs here.
        const floorOff: SideResult[] = [];
        const floorOn: SideResult[] = [];
        for (let round = 0; round < GOV_ROUNDS; round++) {
          off.push(await runSide('gateway A (audit off)', gwA.url, '/mcp', callOp('u1__tool_000', 1024), CONCURRENCY, { gateway: [gwA.proc.pid], upstream: [u1.proc.pid] }, 'closed'));
          on.push(await runSide('gateway N (audit on)', gwN.url, '/mcp', callOp('u1__tool_000', 1024), CONCURRENCY, { gateway: [gwN.proc.pid], upstream: [u1.proc.pid] }, 'closed'));
          floorOff.push(await runSide('floor proxy (no log)', floorNoLog.url, '/mcp', callOp('u1__tool_000', 1024), CONCURRENCY, { gateway: [floorNoLog.proc.pid], upstream: [u1.proc.pid] }, 'closed'));
          floorOn.push(await runSide('floor proxy (write-ahead log)', floorWal.url, '/mcp', callOp('u1__tool_000', 1024), CONCURRENCY, { gateway: [floorWal.proc.pid], upstream: [u1.proc.pid] }, 'closed'));
        }
        const cpu = (xs: SideResult[]): number => xs.reduce((sum, x) => sum + (x.cpuUsPerCall.gateway ?? NaN), 0) / xs.length;
        const rps = (xs: SideResult[]): number => xs.reduce((sum, x) => sum + x.rps, 0) / xs.length;
        auditAddedUs = cpu(on) - cpu(off);
        auditThroughput = rps(on) / rps(off);
        auditFloor = { addedUs: cpu(floorOn) - cpu(floorOff), throughput: rps(floorOn) / rps(floorOff) };
        const floorNote = `; floor (a minimal proxy, bench/floor-proxy.ts, same rounds): no log ${rps(floorOff).toFixed(0)} req/s, ${cpu(floorOff).toFixed(1)} µs per call; minimal write-ahead log ${rps(floorOn).toFixed(0)} req/s, ${cpu(floorOn).toFixed(1)} µs; the log adds ${auditFloor.addedUs.toFixed(1)} µs, throughput ${auditFloor.throughput.toFixed(2)}x`;
        workloads.push(
          combine(
            AUDIT_ROW,
            d,
            on[on.length - 1]!,
            `${GOV_ROUNDS} alternating rounds: audit off ${rps(off).toFixed(0)} req/s, ${cpu(off).toFixed(1)} µs gateway CPU per call; on ${rps(on).toFixed(0)} req/s, ${cpu(on).toFixed(1)} µs; auditing adds ${auditAddedUs.toFixed(1)} µs, throughput ${auditThroughput.toFixed(2)}x (per round: ${off.map((o, i) => `${((on[i]!.cpuUsPerCall.gateway ?? NaN) - (o.cpuUsPerCall.gateway ?? NaN)).toFixed(1)} µs ${(on[i]!.rps / o.rps).toFixed(2)}x`).join(', ')})${floorNote}`,
            gwN.proc.pid,
          ),
        );
      } finally {
        await fpOff?.proc.stop();
        await fpWal?.proc.stop();
        await gwN.proc.stop(cpuProf ? 15_000 : 3000);
        await Promise.race([stdoutClosed, sleep(5000)]);
        for (const l of closedLines) {
          const j = JSON.parse(l) as { log?: string; records?: number; syncs?: number; batches?: number; syncWallMsAvg?: number };
          if (!String(j.log).startsWith('t-') || !j.records || !j.syncs) continue;
          // Two records per call (decision + outcome), plus a few checkpoint records.
          process.stderr.write(`audit: gateway N log ${j.log}: ${j.records} records, ${j.syncs} fdatasyncs, ${(j.records / j.syncs).toFixed(1)} records per sync, ~${((2 * j.syncs) / j.records).toFixed(3)} syncs per call, write+fdatasync ${j.syncWallMsAvg ?? '?'} ms wall on average\n`);
          auditSyncs = `gateway N tenant log: ${j.records} records, ${j.syncs} fdatasyncs (~${((2 * j.syncs) / j.records).toFixed(3)} per call)`;
        }
        const w = workloads.find((x) => x.name === AUDIT_ROW);
        if (w && auditSyncs) w.note = `${w.note ?? ''}; ${auditSyncs}`;
      }
    }

    if (want('list')) {
      process.stderr.write(`tools/list 100 tools (closed loop, ${CONCURRENCY} sessions) ...\n`);
      const d = await runSide('direct', new URL(direct100.url).origin, '/mcp', listOp(100), CONCURRENCY, { upstream: [direct100.proc.pid] }, 'closed');
      const g = await runSide('gateway', gwA.url, '/mcp', listOp(100), CONCURRENCY, { gateway: [gwA.proc.pid], upstream: allUpstreamPids }, 'closed');
      workloads.push(combine('tools/list 100 tools (5 upstreams)', d, g, 'direct: one upstream with 100 tools; gateway: 5 upstreams x 20', gwA.proc.pid));
    }

    if (want('ping')) {
      process.stderr.write(`ping (closed loop, ${CONCURRENCY} sessions) ...\n`);
      const d = await runSide('direct', u1Origin, '/mcp', pingOp(), CONCURRENCY, { upstream: [u1.proc.pid] }, 'closed');
      const g = await runSide('gateway', gwA.url, '/mcp', pingOp(), CONCURRENCY, { gateway: [gwA.proc.pid], upstream: allUpstreamPids }, 'closed');
      workloads.push(combine('ping (gateway answers itself)', d, g, 'no upstream hop on the gateway side: the cost of the front door alone', gwA.proc.pid));
    }

    if (want('paced')) {
      process.stderr.write(`tools/call 1 KB at ${PACED_RATE} req/s (paced, 16 sessions) ...\n`);
      const d = await runSide('direct', u1Origin, '/mcp', callOp('tool_000', 1024), 16, { upstream: [u1.proc.pid] }, 'paced');
      const g = await runSide('gateway', gwA.url, '/mcp', callOp('u1__tool_000', 1024), 16, { gateway: [gwA.proc.pid], upstream: [u1.proc.pid] }, 'paced');
      workloads.push(combine(`tools/call 1 KB @ ${PACED_RATE} req/s`, d, g, undefined, gwA.proc.pid));
    }

    gatewayASessions = await liveSessions(gwA.url);

    if (want('stdio')) {
      process.stderr.write(`warm stdio tools/call 1 KB (sequential, ${STDIO_CALLS} calls) ...\n`);
      workloads.push(await stdioWorkload(tmp));
    }

    // A fresh gateway for the memory test: gateway A's heap has grown through the throughput
    // runs, and free space inside it would hide what idle sessions cost.
    if (want('idle')) {
      const gwC = await startGateway('C', tmp, [{ name: 'u1', kind: 'streamable-http', url: u1.url }]);
      try {
        idle = await idleSessions(gwC.url, gwC.proc.pid);
      } finally {
        await gwC.proc.stop();
      }
    }
    for (const w of workloads) if (w.direct.errors > 0 || w.gateway.errors > 0) failure ??= `${w.name}: ${w.gateway.firstError ?? w.direct.firstError}`;
  } catch (e) {
    failure = [(e as Error).stack ?? String(e), ...deadProcesses()].join('\n');
  } finally {
    process.stderr.write('stopping processes ...\n');
    await stopAll(cpuProf ? 15_000 : 3000);
    await benchAuth?.close();
    removeTmp();
  }

  const report = buildReport(started, workloads, idle, failure);
  report.gatewayA = { sessionsAfterHttpWorkloads: gatewayASessions ?? null, gatewayArgs: [...gwArgs, ...(withAuth ? ['(--auth: bearer JWT required)'] : []), ...(auditAll ? ['(--audit: audit log on)'] : ['(audit log off; see the audit workload)'])] };
  printReport(report);
  mkdirSync(join(ROOT, '.bench-out'), { recursive: true });
  writeFileSync(join(ROOT, '.bench-out', 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\nJSON: ${join('.bench-out', 'latest.json')}\n`);
  if (failure) {
    process.stderr.write(`\nbench harness failed: ${failure}\n`);
    return 1;
  }
  return 0;
}

/** Gateway B (one stdio upstream) against the same upstream program driven over its own pipes. */
async function stdioWorkload(tmp: string): Promise<WorkloadResult> {
  const op = callOp('tool_000', 1024);
  // Warm-up by time, as the other workloads (WARM_MS): after a few hundred calls the gateway's
  // code is still being compiled (its p50 fell from 0.53 to 0.30 ms over its first 4,000
  // sequential calls in the lab), and "warm" means the steady state of a running process.
  const warm = { maxRequests: 1_000_000, durationMs: WARM_MS };
  let direct: SideResult;
  {
    process.stderr.write('  direct ...\n');
    const proc = spawnNode('stdio upstream (direct)', ['--import', TSX, UPSTREAM, '--stdio', '--tools', '20'], { cwd: ROOT });
    try {
      const drv = new StdioDriver(proc);
      await drv.handshake();
      const w = await drv.sequential(op, warm.maxRequests, warm.durationMs);
      if (w.errors > 0) throw new Error(`stdio direct warm-up failed: ${w.firstError}`);
      const groups = { upstream: [proc.pid] };
      const cpu0 = readCpu(groups);
      const r = await drv.sequential(op, STDIO_CALLS);
      direct = sideResult(r, cpu0, readCpu(groups));
    } finally {
      await proc.stop();
    }
  }
  let gateway: SideResult;
  {
    process.stderr.write('  gateway ...\n');
    const gw = await startGateway(
      'B',
      tmp,
      [{ name: 's', kind: 'stdio', command: process.execPath, args: ['--import', TSX, UPSTREAM, '--stdio', '--tools', '20'], cwd: ROOT }],
      [...gwArgs, ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, '.bench-out', 'prof')}`] : [])],
    );
    try {
      const cs = await openConns(gw.url, '/mcp', 1);
      try {
        const gop = callOp('s__tool_000', 1024);
        const w = await closedLoop(cs, gop, warm);
        if (w.errors > 0) throw new Error(`stdio gateway warm-up failed: ${w.firstError}`);
        const groups = { gateway: [gw.proc.pid] };
        const cpu0 = readCpu(groups);
        const r = await closedLoop(cs, gop, { maxRequests: STDIO_CALLS });
        gateway = sideResult(r, cpu0, readCpu(groups));
      } finally {
        await closeConns(cs);
      }
    } finally {
      await gw.proc.stop();
    }
  }
  // The floor: what any Node relay between an HTTP client and this stdio upstream costs here.
  let floor: SideResult;
  {
    process.stderr.write('  floor relay ...\n');
    const proc = spawnNode('floor relay', ['--import', TSX, join(ROOT, 'bench', 'floor-relay.ts'), process.execPath, '--import', TSX, UPSTREAM, '--stdio', '--tools', '20'], { cwd: ROOT });
    try {
      const url = await proc.waitForLine((l) => (JSON.parse(l) as { url?: string }).url, 30_000);
      const cs = await openConns(url, '/mcp', 1);
      try {
        const w = await closedLoop(cs, op, warm);
        if (w.errors > 0) throw new Error(`floor relay warm-up failed: ${w.firstError}`);
        const groups = { gateway: [proc.pid] };
        const cpu0 = readCpu(groups);
        const r = await closedLoop(cs, op, { maxRequests: STDIO_CALLS });
        floor = sideResult(r, cpu0, readCpu(groups));
      } finally {
        await closeConns(cs);
      }
    } finally {
      await proc.stop();
    }
  }
  const result = combine('warm stdio tools/call 1 KB (sequential)', direct, gateway, 'direct: the same stdio upstream driven over its pipes by the bench process');
  result.floor = { p50Ms: floor.p50Ms, addedP50Ms: floor.p50Ms - direct.p50Ms, meanMs: floor.meanMs, cpuUsPerCall: floor.cpuUsPerCall.gateway ?? NaN };
  return result;
}

/** The commit measured, and whether the work tree had uncommitted changes (other work in progress). */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim() !== '';
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return 'unknown';
  }
}

function buildReport(started: Date, workloads: WorkloadResult[], idle: Report['idleSessions'] | undefined, failure: string | undefined): Report {
  const find = (prefix: string): WorkloadResult | undefined => workloads.find((w) => w.name.startsWith(prefix));
  // By its exact name: the paced row's name starts the same way, and a run without the closed
  // loop (`--only paced`) must not judge throughput on the paced row's 1.00x.
  const call1k = workloads.find((w) => w.name === 'tools/call 1 KB');
  const paced = find(`tools/call 1 KB @`);
  const stdio = find('warm stdio');
  const target = (name: string, goal: string, measured: number | undefined, pass: (v: number) => boolean, unit: string, floor?: number): Report['targets'][number] => ({
    name,
    goal,
    measured: measured ?? null,
    floor: floor === undefined || Number.isNaN(floor) ? null : floor,
    unit,
    verdict: measured === undefined || Number.isNaN(measured) ? 'n/a' : pass(measured) ? 'PASS' : 'MISS',
  });
  return {
    date: started.toISOString(),
    machine: { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    command: `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`,
    revision: revision(),
    gatewayBuild: useDist ? 'dist (bin/portcullis.js)' : 'sources via tsx (src/cli/index.ts)',
    phases: { warmMs: WARM_MS, measureMs: MEASURE_MS, pacedMs: PACED_MS, concurrency: CONCURRENCY, stdioCalls: STDIO_CALLS },
    workloads,
    idleSessions: idle,
    targets: [
      target('throughput, tools/call 1 KB', '>= 0.40x direct', call1k?.ratio, (v) => v >= 0.4, 'x', call1k?.floor?.ratio),
      target(`added p50 at ${PACED_RATE} req/s`, '<= 0.3 ms', paced?.addedP50Ms, (v) => v <= 0.3, 'ms'),
      target('RSS per 1,000 idle legacy sessions (with GET streams)', '<= 25 MB', idle?.withStreamsMBPer1000, (v) => v <= 25, 'MB'),
      target('warm stdio call overhead (p50)', '<= 0.2 ms', stdio?.addedP50Ms, (v) => v <= 0.2, 'ms', stdio?.floor?.addedP50Ms),
      target('governance: added gateway CPU per 1 KB tools/call', '<= 50 µs', governanceAddedUs, (v) => v <= 50, 'µs'),
      target('audit: added gateway CPU per 1 KB tools/call', '<= 40 µs', auditAddedUs, (v) => v <= 40, 'µs', auditFloor?.addedUs),
      target('audit: throughput on / off', '>= 0.8x', auditThroughput, (v) => v >= 0.8, 'x', auditFloor?.throughput),
    ],
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
  };
}

// Every exit path stops the children: signals, a runaway run, and the normal end.
process.once('exit', () => {
  killAllNow();
  removeTmp();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping children\n`);
    void stopAll(2000).finally(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  process.stderr.write(`bench exceeded ${RUN_LIMIT_MS / 1000} s: stopping\n`);
  void stopAll(2000).finally(() => process.exit(2));
}, RUN_LIMIT_MS);
watchdog.unref();

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    void stopAll(2000).finally(() => process.exit(1));
  },
);
