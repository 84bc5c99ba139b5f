/**
 * Credentials in URLs: `scheme://user:password@host` (RFC 3986 userinfo).
 *  - `basic-auth-url` for http(s), ftp(s), ws(s) and other schemes: scheme through host[:port];
 *  - `database-url` for database schemes (mongodb, mongodb+srv, mysql, jdbc:mysql, postgres(ql),
 *    redis, amqp, …): the whole URL up to the next whitespace.
 * Template variables (`${PASS}`, `{{pass}}`, `$(PASS)`) and obvious placeholders (`password`,
 * `YOUR_PASSWORD`, `xxxx`, very short values) are not credentials (secretlint corpus `ok` cases).
 */
import { isAlnum, isDigit, isLetter } from './regex.js';
import type { Rule, Span } from './types.js';

const DB_SCHEMES = new Set(['mongodb', 'mongodb+srv', 'mysql', 'mariadb', 'postgres', 'postgresql', 'redis', 'rediss', 'amqp', 'amqps', 'mssql', 'sqlserver', 'cockroachdb', 'clickhouse', 'couchdb', 'neo4j', 'neo4j+s', 'bolt', 'cassandra', 'oracle']);
const MAX_SCHEME = 24;
const MAX_AUTHORITY = 512;

function isSchemeChar(c: number): boolean {
  return isAlnum(c) || c === 43 || c === 45 || c === 46;
}

// RFC 3986 userinfo/host characters, without the ones that end a URL in prose or code
// (quotes, brackets, parentheses, braces, `<>`, backquote, whitespace).
function isAuthorityChar(c: number): boolean {
  return isAlnum(c) || c === 45 || c === 46 || c === 95 || c === 126 || c === 33 || c === 36 || c === 38 || c === 42 || c === 43 || c === 44 || c === 59 || c === 61 || c === 58 || c === 64 || c === 37;
}

function isHostChar(c: number): boolean {
  return isAlnum(c) || c === 45 || c === 46 || c === 95;
}

function sameChar(s: string): boolean {
  for (let i = 1; i < s.length; i++) if (s[i] !== s[0]) return false;
  return true;
}

function isPlaceholder(pass: string, db: boolean): boolean {
  if (pass.length < (db ? 5 : 4) || sameChar(pass)) return true;
  const p = pass.toLowerCase();
  if (p.includes('password') || p.includes('passwd') || p.startsWith('your') || p.startsWith('replace') || p.startsWith('change') || p === 'example' || p === 'redacted') return true;
  if (p.startsWith('$') || p.startsWith('%') || p.includes('*')) return true;
  return db && (p === 'secret' || p === 'pass' || p === 'pwd');
}

/** Where the scheme before `://` at `i` starts (a `jdbc:` in front included), or -1. */
function schemeStart(text: string, i: number): number {
  let s = i;
  while (s > 0 && i - s < MAX_SCHEME && isSchemeChar(text.charCodeAt(s - 1))) s--;
  while (s < i && !isLetter(text.charCodeAt(s))) s++;
  if (s === i) return -1;
  if (text.startsWith('jdbc:', s - 5)) s -= 5;
  return s;
}

function findCredentialUrls(text: string, out: Span[], wantDb: boolean): void {
  let from = 0;
  for (let i = text.indexOf('://', from); i !== -1; i = text.indexOf('://', from)) {
    from = i + 3;
    const a = i + 3;
    let e = a;
    const stop = Math.min(text.length, a + MAX_AUTHORITY);
    let at = -1;
    while (e < stop && isAuthorityChar(text.charCodeAt(e))) {
      if (text.charCodeAt(e) === 64) at = e;
      e++;
    }
    if (at === -1) continue;
    let colon = a;
    while (colon < at && text.charCodeAt(colon) !== 58) colon++;
    if (colon >= at || colon === a) continue;
    const pass = text.slice(colon + 1, at);
    const start = schemeStart(text, i);
    if (start === -1) continue;
    const scheme = text.slice(text.startsWith('jdbc:', start) ? start + 5 : start, i).toLowerCase();
    const db = DB_SCHEMES.has(scheme);
    if (db !== wantDb || isPlaceholder(pass, db)) continue;
    // Host: at least one host character after the `@`.
    let h = at + 1;
    while (h < e && isHostChar(text.charCodeAt(h))) h++;
    if (h === at + 1) continue;
    let end = h;
    if (text.charCodeAt(end) === 58) {
      end++;
      while (end < text.length && isDigit(text.charCodeAt(end))) end++;
    }
    if (db) {
      end = e;
      while (end < text.length && end - start < 2048 && !isSpace(text.charCodeAt(end))) end++;
    }
    out.push({ start, end, rule: db ? 'database-url' : 'basic-auth-url', kind: 'secret' });
    from = Math.max(from, e, end);
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

export const credentialUrlRules: readonly Rule[] = [
  { name: 'basic-auth-url', kind: 'secret', keywords: ['://'], mayMatch: (t) => t.includes('@'), find: (t, out) => findCredentialUrls(t, out, false) },
  { name: 'database-url', kind: 'secret', keywords: ['://'], mayMatch: (t) => t.includes('@'), find: (t, out) => findCredentialUrls(t, out, true) },
];
