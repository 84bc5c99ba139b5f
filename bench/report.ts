/**
 * The bench's result shapes and the stdout table (the same data goes to .bench-out/latest.json).
 */
import type { Summary } from './stats.js';

export interface SideResult extends Summary {
  /** CPU µs per call by process group: gateway, upstream (sum over its processes), client (this process). */
  cpuUsPerCall: Record<string, number>;
  maxBacklog: number;
  firstError?: string;
}

export interface WorkloadResult {
  name: string;
  direct: SideResult;
  gateway: SideResult;
  ratio: number;
  addedP50Ms: number;
  addedP99Ms: number;
  addedMeanMs: number;
  gatewayCpuUsPerCall: number;
  /** Gateway process RSS right after this workload (gateway A workloads). */
  gatewayRssAfterMB?: number;
  note?: string;
  /**
   * The floor on the same upstream: warm stdio, a minimal Node HTTP-to-stdio relay
   * (bench/floor-relay.ts); tools/call 1 KB, a minimal Node HTTP proxy (bench/floor-proxy.ts),
   * with its throughput and ratio to direct.
   */
  floor?: { rps?: number; ratio?: number; p50Ms: number; addedP50Ms: number; meanMs: number; cpuUsPerCall: number };
}

export interface Report {
  date: string;
  machine: { nproc: number; cpu: string; node: string };
  command: string;
  revision: string;
  gatewayBuild: string;
  phases: Record<string, number>;
  workloads: WorkloadResult[];
  idleSessions:
    | {
        sessions: number;
        getStreams: number;
        rssBeforeMB: number;
        rssAfterSessionsMB: number;
        rssAfterStreamsMB: number;
        sessionsOnlyMBPer1000: number;
        withStreamsMBPer1000: number;
      }
    | undefined;
  /** Gateway A (the HTTP workloads): live sessions once they were all DELETEd, and its extra node options. */
  gatewayA?: { sessionsAfterHttpWorkloads: number | null; gatewayArgs: string[] };
  /** `floor`: the same measure for the minimal relay or proxy (bench/floor-*.ts) in the same run, where there is one. */
  targets: { name: string; goal: string; measured: number | null; floor: number | null; unit: string; verdict: 'PASS' | 'MISS' | 'n/a' }[];
  ok: boolean;
  failure?: string;
}

const f = (v: number | undefined, digits: number): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function printReport(r: Report): void {
  const out: string[] = [];
  out.push('', `Portcullis bench  ${r.date}  ${r.machine.nproc} x ${r.machine.cpu}  node ${r.machine.node}  ${r.revision}  gateway: ${r.gatewayBuild}`, '');
  const rows: string[][] = [
    ['workload', 'direct req/s', 'gateway req/s', 'ratio', 'direct p50/p99 ms', 'gateway p50/p99 ms', 'added p50', 'added p99', 'gw CPU µs/call', 'up CPU µs/call d/g', 'gw RSS after MB'],
  ];
  for (const w of r.workloads) {
    rows.push([
      w.name,
      f(w.direct.rps, 0),
      f(w.gateway.rps, 0),
      f(w.ratio, 2),
      `${f(w.direct.p50Ms, 3)}/${f(w.direct.p99Ms, 3)}`,
      `${f(w.gateway.p50Ms, 3)}/${f(w.gateway.p99Ms, 3)}`,
      f(w.addedP50Ms, 3),
      f(w.addedP99Ms, 3),
      f(w.gatewayCpuUsPerCall, 1),
      `${f(w.direct.cpuUsPerCall.upstream, 1)}/${f(w.gateway.cpuUsPerCall.upstream, 1)}`,
      f(w.gatewayRssAfterMB, 0),
    ]);
  }
  out.push(table(rows));
  for (const w of r.workloads) {
    const extra: string[] = [];
    if (w.direct.maxBacklog || w.gateway.maxBacklog) extra.push(`max backlog direct ${w.direct.maxBacklog}, gateway ${w.gateway.maxBacklog}`);
    if (w.name.startsWith('warm stdio')) extra.push(`mean per call direct ${f(w.direct.meanMs, 3)} ms, gateway ${f(w.gateway.meanMs, 3)} ms (added ${f(w.addedMeanMs, 3)} ms)`);
    if (w.floor && w.floor.rps !== undefined) extra.push(`floor (a minimal Node HTTP proxy): ${f(w.floor.rps, 0)} req/s (${f(w.floor.ratio, 2)}x direct), p50 ${f(w.floor.p50Ms, 3)} ms, ${f(w.floor.cpuUsPerCall, 1)} µs CPU per call`);
    else if (w.floor) extra.push(`floor (a minimal Node HTTP-to-stdio relay): added p50 ${f(w.floor.addedP50Ms, 3)} ms, ${f(w.floor.cpuUsPerCall, 1)} µs CPU per call`);
    if ((w.name.startsWith('governance') || w.name.startsWith('audit')) && w.note) extra.push(w.note);
    if (w.direct.errors || w.gateway.errors) extra.push(`ERRORS direct ${w.direct.errors}, gateway ${w.gateway.errors}: ${w.gateway.firstError ?? w.direct.firstError}`);
    if (extra.length) out.push(`  ${w.name}: ${extra.join('; ')}`);
  }
  if (r.gatewayA) out.push(`  gateway A: ${r.gatewayA.sessionsAfterHttpWorkloads ?? '?'} live sessions after the HTTP workloads (all were DELETEd)${r.gatewayA.gatewayArgs.length ? `; node options ${r.gatewayA.gatewayArgs.join(' ')}` : ''}`);
  const s = r.idleSessions;
  if (s) {
    out.push(
      '',
      `idle legacy sessions: ${s.sessions} (+${s.getStreams} GET streams); gateway RSS ${f(s.rssBeforeMB, 1)} -> ${f(s.rssAfterSessionsMB, 1)} -> ${f(s.rssAfterStreamsMB, 1)} MB`,
      `  per 1,000 sessions: ${f(s.sessionsOnlyMBPer1000, 1)} MB (sessions only), ${f(s.withStreamsMBPer1000, 1)} MB (with GET streams)`,
    );
  }
  out.push('', table([['target', 'goal', 'measured', 'floor', 'verdict'], ...r.targets.map((t) => [t.name, t.goal, t.measured === null ? '-' : `${f(t.measured, 3)} ${t.unit}`, t.floor === null ? '-' : `${f(t.floor, 3)} ${t.unit}`, t.verdict])]));
  if (!r.ok) out.push('', 'HARNESS FAILED (see failure in the JSON)');
  process.stdout.write(out.join('\n') + '\n');
}
