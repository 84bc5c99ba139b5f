/**
 * `--auth`: gateway A requires a bearer token. The bench process serves a JWKS on loopback and
 * signs one RS256 token (issuer-level audience, so it does not depend on the gateway's port);
 * every request of both sides carries it, so the gateway pays token verification (a cache hit
 * after the first call) and the direct side pays nothing but the header bytes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export interface BenchAuth {
  /** The `auth` section for gateway A's config. */
  config: Record<string, unknown>;
  /** `Bearer …` for every request. */
  header: string;
  close(): Promise<void>;
}

const AUDIENCE = 'portcullis-bench';

export async function startBenchAuth(): Promise<BenchAuth> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/jwks') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await new SignJWT({ scope: 'mcp:tools' })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setSubject('bench')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return {
    config: { issuers: [{ name: 'bench', issuer, jwksUri: `${issuer}/jwks`, audiences: [AUDIENCE] }], apiKeys: { enabled: false } },
    header: `Bearer ${token}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
