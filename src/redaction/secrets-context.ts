/**
 * Secret rules that need more than "prefix + run": a key name in front (AWS secret keys and account
 * ids, bearer credentials), a marker inside the token (OpenAI), a structure (JWT, Slack webhooks).
 */
import { at, ci, isAlnum, isDigit, isUrlSafe, runEnd, safeRegExp, tokenRule } from './regex.js';
import type { Rule, Span } from './types.js';

const isAwsSecretChar = (c: number): boolean => isAlnum(c) || c === 47 || c === 43;
const isQuote = (c: number): boolean => c === 34 || c === 39;

// `aws_secret_access_key = `, `"AWS_SECRET_KEY": "` … up to the first character of the value.
const AWS_SECRET_KEY_RE = safeRegExp(`${ci('aws_secret')}[_-]?(?:${ci('access')}[_-]?)?${ci('key')}["']?[ \\t]{0,4}(?::|=>|=)[ \\t]{0,4}["']?`);

/**
 * AWS secret access keys: 40 characters of [A-Za-z0-9/+] after an aws_secret_access_key-like name
 * (the value alone has no recognisable format). Only the value is masked.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html
 */
export const awsSecretKeyRule: Rule = {
  name: 'aws-secret-access-key',
  kind: 'secret',
  keywords: ['secret', 'SECRET', 'Secret'],
  find(text, out: Span[]) {
    const re = AWS_SECRET_KEY_RE;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const b = m.index + m[0].length;
      const e = runEnd(text, b, isAwsSecretChar, 41);
      if (e - b === 40 && at(text, e) !== 61) out.push({ start: b, end: e, rule: 'aws-secret-access-key', kind: 'secret' });
    }
  },
};

const AWS_ACCOUNT_RE = safeRegExp(`${ci('aws_account')}[_-]?${ci('id')}["']?[ \\t]{0,4}(?::|=>|=)[ \\t]{0,4}["']?[0-9]{4}-?[0-9]{4}-?[0-9]{4}`);

/** AWS account ids (12 digits) after an aws_account_id-like name; the name and value are masked. */
export const awsAccountIdRule: Rule = {
  name: 'aws-account-id',
  kind: 'secret',
  keywords: ['ccount', 'CCOUNT'],
  find(text, out: Span[]) {
    const re = AWS_ACCOUNT_RE;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const end = m.index + m[0].length;
      if (isDigit(at(text, end))) continue;
      const start = isQuote(at(text, m.index - 1)) ? m.index - 1 : m.index;
      out.push({ start, end, rule: 'aws-account-id', kind: 'secret' });
    }
  },
};

/** Slack incoming webhooks: https://hooks.slack.com/services/T…/B…/… (api.slack.com/messaging/webhooks). */
export const slackWebhookRule: Rule = tokenRule({
  name: 'slack-webhook',
  prefixes: ['https://hooks.slack.com/services/', 'https://hooks.slack.com/workflows/'],
  body: (c) => isUrlSafe(c) || c === 47,
  min: 10,
  notBefore: () => false,
});

/** JSON Web Tokens: three base64url parts, the first two JSON objects (`eyJ…`). RFC 7519. */
export const jwtRule: Rule = tokenRule({
  name: 'jwt',
  prefixes: ['eyJ'],
  body: (c) => isUrlSafe(c) || c === 46,
  min: 30,
  notBefore: (c) => isUrlSafe(c) || c === 46,
  accept: (b) => {
    const parts = b.split('.');
    return parts.length === 3 && parts[0]!.length >= 8 && parts[1]!.startsWith('eyJ') && parts[1]!.length >= 8;
  },
});

const isCredentialChar = (c: number): boolean => isUrlSafe(c) || c === 46 || c === 126 || c === 43 || c === 47 || c === 61;

/** The credential after `Bearer ` / `Authorization: Basic ` (RFC 6750, RFC 7617); the scheme is kept. */
export const bearerRule: Rule = tokenRule({
  name: 'bearer-token',
  prefixes: ['Bearer ', 'bearer ', 'BEARER ', 'Authorization: Basic ', 'authorization: basic ', 'Authorization: basic '],
  body: isCredentialChar,
  min: 16,
  keepPrefix: true,
});

/**
 * OpenAI API keys: `sk-` (or sk-proj-, sk-svcacct-, sk-admin-) keys carrying the marker `T3BlbkFJ`
 * (base64 of "OpenAI") inside; the whole [A-Za-z0-9_-] run is masked (corpus).
 */
export const openAiRule: Rule = {
  name: 'openai-api-key',
  kind: 'secret',
  keywords: ['T3BlbkFJ'],
  find(text, out: Span[]) {
    let done = 0;
    for (let i = text.indexOf('T3BlbkFJ'); i !== -1; i = text.indexOf('T3BlbkFJ', Math.max(done, i + 1))) {
      let s = i;
      const stop = Math.max(done, i - 512);
      while (s > stop && isUrlSafe(text.charCodeAt(s - 1))) s--;
      const e = runEnd(text, i, isUrlSafe, 1024);
      done = e;
      if (!text.startsWith('sk-', s) || e - s < 40) continue;
      out.push({ start: s, end: e, rule: 'openai-api-key', kind: 'secret' });
    }
  },
};
