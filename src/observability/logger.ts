/**
 * Structured JSON logs (pino). Every log line about a call carries its call id; secrets never
 * reach a log: headers that can carry credentials are redacted by path.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["mcp-session-id"]',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.password',
  '*.token',
  '*.secret',
];

/** The root logger. PORTCULLIS_LOG_LEVEL overrides the configured level (tests set `silent`). */
export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream, o: { envOverride?: boolean } = {}): Logger {
  const effective = (o.envOverride === false ? undefined : process.env.PORTCULLIS_LOG_LEVEL) ?? level;
  const opts = { level: effective, base: { svc: 'portcullis' }, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(opts, destination as never) : pino(opts);
}

/** A logger that drops everything, for unit tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
