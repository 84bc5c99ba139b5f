/**
 * Opens a link for a configured upstream: the closed union of adapter kinds lives here. HTTP
 * upstreams are probed once for their era; the verdict is cached in the store and dropped when
 * a link built on it fails to open, so the next attempt probes again.
 */
import type { CompiledUpstream } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../storage/ports.js';
import { openStdioLink } from './stdio/link.js';
import { openHttpLink, probeHttpEra, type HttpVerdict } from './http/probe.js';
import type { UpstreamLink } from './types.js';
import type { ResolveSecret } from '../auth/secrets/ref.js';
import { credentialHeaders, type OAuthClientFor } from './http/credential-headers.js';

/** What opening a link needs beyond the upstream's own config. */
export interface LinkDeps {
  /** Resolves secret references of upstream credentials (available once identity has started). */
  resolveSecret(): ResolveSecret | undefined;
  /** The authorization-code OAuth client of an upstream with `auth: {type: oauth}`. */
  oauthFor?: OAuthClientFor;
}

export async function openLinkFor(
  cfg: CompiledUpstream,
  log: Logger,
  store: Store,
  maxMessageBytes: number,
  deps?: LinkDeps,
  principalKey?: string,
  subjectToken?: () => string | undefined,
): Promise<UpstreamLink> {
  switch (cfg.kind) {
    case 'stdio':
      return openStdioLink(
        {
          name: cfg.name,
          command: cfg.command,
          args: [...cfg.args],
          cwd: cfg.cwd,
          env: { ...cfg.env },
          envAllowlist: [...cfg.envAllowlist],
          maxLineBytes: cfg.maxLineBytes,
          timeouts: cfg.timeouts,
        },
        log,
        { era: 'auto' },
      );
    case 'streamable-http':
    case 'sse': {
      const creds = await credentialHeaders(cfg.name, cfg.headers, cfg.auth, deps?.resolveSecret(), log, deps?.oauthFor, principalKey, subjectToken);
      // Verdicts are cached per credential: another identity may see another era (or a 401).
      const AUTH_CONTEXT = creds.authContext || 'static';
      const httpCfg = {
        name: cfg.name,
        url: cfg.url,
        headers: creds.headers,
        maxMessageBytes: maxMessageBytes,
        timeouts: cfg.timeouts,
        logger: log,
      };
      let verdict: HttpVerdict | undefined;
      if (cfg.kind === 'sse') verdict = { transport: 'sse', era: 'legacy' };
      else if (cfg.era !== 'auto') verdict = { transport: 'streamable-http', era: cfg.era };
      else {
        const cached = await store.eraVerdicts.get(cfg.name, AUTH_CONTEXT).catch(() => undefined);
        if (cached) verdict = { transport: cached.transport, era: cached.era };
      }
      const fromCache = verdict !== undefined && cfg.kind === 'streamable-http' && cfg.era === 'auto';
      if (!verdict) {
        verdict = await probeHttpEra(httpCfg.url, httpCfg.headers, httpCfg.timeouts);
        log.info({ upstream: cfg.name, ...verdict }, 'upstream.era_detected');
      }
      try {
        const link = await openHttpLink(httpCfg, verdict);
        creds.keepFresh(() => link.closed);
        if (cfg.kind === 'streamable-http' && cfg.era === 'auto') {
          await store.eraVerdicts
            .put({ upstream: cfg.name, authContext: AUTH_CONTEXT, transport: verdict.transport, era: verdict.era, protocolVersion: link.info.protocolVersion, probedAt: new Date() })
            .catch(() => undefined);
        }
        return link;
      } catch (e) {
        // A cached verdict that no longer works is re-probed on the next attempt.
        if (fromCache) await store.eraVerdicts.delete(cfg.name).catch(() => undefined);
        throw e;
      }
    }
  }
}
