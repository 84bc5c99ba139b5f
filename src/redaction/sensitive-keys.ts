/**
 * Object keys whose name says the value is a secret (`password`, `api_key`, `Authorization`, …):
 * their string values are masked entirely under the rule `sensitive-key`.
 */
export const SENSITIVE_KEY_RULE = 'sensitive-key';

// Compared after lower-casing and removing `-` and `_`, so `API-Key`, `api_key`, `apiKey` all match.
const EXACT = new Set([
  'password',
  'passwd',
  'secret',
  'token',
  'apikey',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'privatekey',
  'clientsecret',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'sessiontoken',
  'authtoken',
  'secretkey',
  'secretaccesskey',
  'xapikey',
]);
// Compound names ending in one of these (`db_password`, `github_token`, `aws_secret`) also count.
const SUFFIXES = ['password', 'passwd', 'secret', 'token', 'apikey', 'privatekey', 'accesskey'];
/** Longest key examined (longer keys are not secret-named for this purpose). */
const MAX_KEY = 64;

/** Keys seen recently (tool results repeat the same keys); bounded, cleared when full. */
const cache = new Map<string, boolean>();
const CACHE_MAX = 2048;

export function isSensitiveKey(key: string): boolean {
  if (key.length < 3 || key.length > MAX_KEY) return false;
  let hit = cache.get(key);
  if (hit === undefined) {
    hit = decide(key);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, hit);
  }
  return hit;
}

function decide(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  if (EXACT.has(k)) return true;
  for (const s of SUFFIXES) if (k.endsWith(s)) return !k.endsWith('tokens') && !isCountLike(k);
  return false;
}

// `max_tokens`, `token_count`, `tokenType`, `nextPageToken` are not secrets.
function isCountLike(k: string): boolean {
  return k.startsWith('max') || k.startsWith('num') || k.startsWith('total') || k.endsWith('pagetoken') || k.endsWith('continuationtoken') || k.endsWith('synctoken');
}
