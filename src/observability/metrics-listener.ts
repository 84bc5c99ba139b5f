/**
 * The optional listener of its own for `/metrics` (`observability.metrics.listen`): GET /metrics
 * only, no credentials, meant for a scrape-only network or loopback. A Host that is not an IP
 * literal, `localhost` or the configured host is refused, so a browser page cannot read it
 * through DNS rebinding.
 */
import { createServer, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';

/** A started metrics listener. */
export interface MetricsListener {
  readonly url: string;
  close(): Promise<void>;
}

function hostAllowed(hostHeader: string | undefined, configured: string): boolean {
  if (hostHeader === undefined) return false;
  const h = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d+$/, '');
  return isIP(h) !== 0 || h === 'localhost' || h.toLowerCase() === configured.toLowerCase();
}

/** Listens on host:port (0 picks a free port) and serves `expose()` at GET /metrics. */
export async function startMetricsListener(host: string, port: number, expose: () => Promise<{ body: string; contentType: string }>): Promise<MetricsListener> {
  const server: Server = createServer({ maxHeaderSize: 8192, headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!hostAllowed(req.headers.host, host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('host not allowed\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    expose().then(
      (m) => res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : m.body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
