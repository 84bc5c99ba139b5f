/**
 * The `auth` section of the config: who may call the gateway (trusted issuers, the built-in
 * authorization server, API keys), what scopes mean, and where the secret store's key lives.
 * Absent means open on loopback only; the literal `none` means open anywhere, said explicitly.
 */
import { z } from 'zod';
import { TrustedIssuers } from './tokens/config.js';
import { AuthorizationServerConfig } from './server/config.js';
import { SecretRef } from './secrets/ref.js';

const ScopeName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9:._-]{0,63}$/, 'letters, digits, ":", ".", "_" and "-", at most 64');

export const ScopeDef = z
  .object({
    name: ScopeName.describe('The scope string clients request, e.g. `mcp:tools` or `github:read`.'),
    description: z.string().max(200).optional().describe('Shown on the consent page.'),
    servers: z
      .array(z.string().min(1).max(32))
      .default(['*'])
      .describe('Endpoints this scope opens: virtual server names, `default` for /mcp, or `*` for every endpoint.'),
    tools: z
      .array(z.string().min(1).max(128))
      .optional()
      .describe('Name globs over exposed tool names this scope allows on those endpoints; omitted: every tool.'),
  })
  .strict();

export const ApiKeysConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Accept API keys (`Authorization: Bearer pcl_…` or `X-API-Key`) created with `portcullis keys create`.'),
    hashKey: SecretRef.optional().describe('Key for the keyed hash of stored API keys (≥ 32 bytes). Default: generated once into `<dataDir>/api-key-hash.key`.'),
  })
  .strict()
  .describe('API keys for agents, CI jobs and service accounts (`portcullis keys`, or the admin API).');

export const AuthSettings = z
  .object({
    resource: z
      .string()
      .url()
      .optional()
      .describe('Canonical base URL of the gateway as a protected resource (RFC 8707/9728); endpoint resources are `<base>/mcp` and `<base>/servers/<name>/mcp`. Default: `gateway.publicUrl`, else http://host:port.'),
    scopes: z
      .array(ScopeDef)
      .default([{ name: 'mcp:tools', description: 'Use the tools of every endpoint', servers: ['*'] }])
      .describe('Resource scopes. A token must carry one whose `servers` covers the endpoint (else 403 insufficient_scope).'),
    issuers: TrustedIssuers.default([]),
    authorizationServer: AuthorizationServerConfig.prefault({}),
    apiKeys: ApiKeysConfig.prefault({}),
    adminRoles: z
      .array(z.string().min(1).max(128))
      .default(['admin'])
      .describe('Principals with one of these roles may use the admin API (`/admin/api/…`) for their own tenant.'),
  })
  .strict();

export const AuthConfig = z
  .union([z.literal('none'), AuthSettings])
  .optional()
  .describe(
    'Authentication of clients. Omitted: open, allowed only on a loopback bind. `none`: open anywhere (explicit). An object: every MCP route needs a bearer token or an API key.',
  );

export type AuthSettings = z.infer<typeof AuthSettings>;
export type ScopeDef = z.infer<typeof ScopeDef>;
