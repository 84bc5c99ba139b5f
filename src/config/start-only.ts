/**
 * Settings a hot reload cannot apply: they were read once when the gateway started (a listener,
 * the store, the secret store, the audit log, metrics and traces, the built-in authorization
 * server, the logger). A reload that changes one still applies everything else, and the gateway
 * logs `config.restart_needed` naming what waits for a restart (docs/config.md, "Hot reload").
 */
import { canonicalJson, type Snapshot } from './compile.js';

interface StartOnly {
  /** As named in the log line and in docs/config.md. */
  setting: string;
  /** True when going from `previous` to `next` needs a restart. */
  changed(next: Snapshot, previous: Snapshot): boolean;
}

function at(config: unknown, path: string): unknown {
  let v: unknown = config;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

const differs = (next: Snapshot, previous: Snapshot, path: string): boolean => canonicalJson(at(next.config, path) ?? null) !== canonicalJson(at(previous.config, path) ?? null);
const authOn = (s: Snapshot): boolean => s.auth.mode === 'required';
/** A setting read at start. */
const path = (p: string): StartOnly => ({ setting: p, changed: (n, o) => differs(n, o, p) });
/** An authentication setting: read when authentication starts, so it matters only while it stays on. */
const authPath = (p: string): StartOnly => ({ setting: p, changed: (n, o) => authOn(n) && authOn(o) && differs(n, o, p) });

const START_ONLY: readonly StartOnly[] = [
  path('gateway.host'),
  path('gateway.port'),
  path('gateway.dataDir'),
  path('gateway.storage'),
  path('gateway.limits.maxHeaderBytes'),
  path('gateway.limits.headersTimeout'),
  path('log.level'),
  path('secretStore'),
  { setting: 'auth (switching authentication on or off)', changed: (n, o) => authOn(n) !== authOn(o) },
  authPath('auth.resource'),
  {
    // The resource URL of the OAuth metadata defaults to gateway.publicUrl (auth/identity.ts).
    setting: 'gateway.publicUrl (as the OAuth resource URL)',
    changed: (n, o) => authOn(n) && authOn(o) && at(n.config, 'auth.resource') === undefined && differs(n, o, 'gateway.publicUrl'),
  },
  authPath('auth.authorizationServer'),
  authPath('auth.apiKeys.hashKey'),
  {
    setting: 'auth.apiKeys.enabled (turning API keys on; turning them off applies at once)',
    changed: (n, o) => authOn(n) && authOn(o) && n.auth.settings?.apiKeys.enabled === true && o.auth.settings?.apiKeys.enabled !== true,
  },
  path('audit'),
  path('observability'),
];

/** The start-only settings, as docs/config.md lists them. */
export const START_ONLY_SETTINGS: readonly string[] = START_ONLY.map((s) => s.setting);

/** The start-only settings that differ between two snapshots, in START_ONLY_SETTINGS order. */
export function restartNeeded(next: Snapshot, previous: Snapshot): string[] {
  return START_ONLY.filter((s) => s.changed(next, previous)).map((s) => s.setting);
}
