/**
 * Secret detection rules (credential formats). Token formats are public facts, from the vendors'
 * documentation where cited and otherwise from the shared secretlint corpus
 * (../shared/corpora/secrets, the recommend-preset snapshot cases); the code is our own.
 */
import { privateKeyRule } from './private-key.js';
import { isAlnum, isBase64, isDigit, isHex, isLetter, isUrlSafe, isWord, runEnd, tokenRule } from './regex.js';
import { awsAccountIdRule, awsSecretKeyRule, bearerRule, jwtRule, openAiRule, slackWebhookRule } from './secrets-context.js';
import type { Rule } from './types.js';
import { credentialUrlRules } from './url-credentials.js';

const isUpperAlnum = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90);
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const allOf = (s: string, ok: (c: number) => boolean): boolean => {
  for (let i = 0; i < s.length; i++) if (!ok(s.charCodeAt(i))) return false;
  return s.length > 0;
};
// `-<digits>` after a Databricks token belongs to it.
const digitSuffix = (text: string, end: number): number => (text.charCodeAt(end) === 45 && isDigit(text.charCodeAt(end + 1)) ? runEnd(text, end + 1, isDigit, 4) : end);

function tailscaleBody(b: string): boolean {
  const parts = b.split('-');
  return parts.length === 3 && allOf(parts[0]!, isLower) && parts[1]!.length >= 6 && parts[2]!.length >= 16 && allOf(parts[1]!, isAlnum) && allOf(parts[2]!, isAlnum);
}

export const SECRET_RULES: readonly Rule[] = [
  privateKeyRule,
  ...credentialUrlRules,
  // AWS access key ids: a 4-character prefix (AKIA long-term, ASIA temporary, …) + 16 of [A-Z0-9].
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
  tokenRule({ name: 'aws-access-key-id', prefixes: ['AKIA', 'ASIA', 'AGPA', 'AIDA', 'AROA', 'ANPA', 'ANVA', 'APKA', 'ABIA', 'ACCA'], body: isUpperAlnum, min: 16, max: 16, notAfter: isAlnum }),
  awsSecretKeyRule,
  awsAccountIdRule,
  // GitHub: ghp_/gho_/ghu_/ghs_/ghr_ + 36 base62 (installation tokens may carry `_`/`.`-joined parts),
  // github_pat_ + 82 [A-Za-z0-9_]. https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
  tokenRule({ name: 'github-token', prefixes: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], body: (c) => isUrlSafe(c) || c === 46, min: 30 }),
  tokenRule({ name: 'github-token', prefixes: ['github_pat_'], body: isWord, min: 40 }),
  // GitLab personal access tokens: glpat- + 20 or more [A-Za-z0-9_-] (corpus; docs.gitlab.com token overview).
  tokenRule({ name: 'gitlab-token', prefixes: ['glpat-', 'gldt-', 'glrt-', 'glptt-'], body: isUrlSafe, min: 20 }),
  // Slack: xoxb-/xoxp-/xoxa-/xoxo-/xoxr-/xoxs- and app-level xapp- tokens (api.slack.com/authentication/token-types).
  tokenRule({ name: 'slack-token', prefixes: ['xoxb-', 'xoxp-', 'xoxa-', 'xoxo-', 'xoxr-', 'xoxs-', 'xoxe-', 'xapp-'], body: (c) => isAlnum(c) || c === 45, min: 10 }),
  slackWebhookRule,
  // Stripe secret and restricted keys (publishable pk_ keys are not secret). https://docs.stripe.com/keys
  tokenRule({ name: 'stripe-key', prefixes: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_'], body: isAlnum, min: 24 }),
  // Anthropic API keys: sk-ant-api03-/sk-ant-api04-/sk-ant-admin01- + ~95 [A-Za-z0-9_-] ending in `AA` (corpus).
  tokenRule({ name: 'anthropic-api-key', prefixes: ['sk-ant-api03-', 'sk-ant-api04-', 'sk-ant-admin01-'], body: isUrlSafe, min: 80, accept: (b) => b.endsWith('AA') }),
  openAiRule,
  // 1Password service-account tokens: ops_ + base64 JSON (`eyJ…`) (corpus).
  tokenRule({ name: '1password-token', prefixes: ['ops_eyJ'], body: isBase64, min: 100 }),
  // Cloudflare API tokens and keys: cfat_/cfut_/cfk_ + 48 [A-Za-z0-9] (corpus).
  tokenRule({ name: 'cloudflare-token', prefixes: ['cfat_', 'cfut_', 'cfk_'], body: isAlnum, min: 48, max: 48, notAfter: isUrlSafe }),
  // Databricks personal access tokens: dapi + 32 hex, optionally -<digits> (corpus).
  tokenRule({ name: 'databricks-token', prefixes: ['dapi'], body: isHex, min: 32, max: 32, notAfter: isAlnum, extend: digitSuffix }),
  // Docker Hub personal access tokens: dckr_pat_ + [A-Za-z0-9_-] (corpus; docs.docker.com access tokens).
  tokenRule({ name: 'docker-pat', prefixes: ['dckr_pat_'], body: isUrlSafe, min: 24 }),
  // Figma personal access tokens: figd_ + [A-Za-z0-9_-] (corpus).
  tokenRule({ name: 'figma-token', prefixes: ['figd_'], body: isUrlSafe, min: 40 }),
  // Grafana: glc_ (Cloud API token, base64) and glsa_ (service account token) (corpus).
  tokenRule({ name: 'grafana-token', prefixes: ['glc_'], body: isBase64, min: 32 }),
  tokenRule({ name: 'grafana-token', prefixes: ['glsa_'], body: isWord, min: 32 }),
  // Groq API keys: gsk_ + exactly 52 [A-Za-z0-9] (corpus).
  tokenRule({ name: 'groq-api-key', prefixes: ['gsk_'], body: isAlnum, min: 52, max: 52, notBefore: isLetter, notAfter: isUrlSafe }),
  // HashiCorp Vault service/batch/recovery tokens: hvs./hvb./hvr. + [A-Za-z0-9_-] (corpus; developer.hashicorp.com/vault/docs/concepts/tokens).
  tokenRule({ name: 'vault-token', prefixes: ['hvs.', 'hvb.', 'hvr.'], body: isUrlSafe, min: 24, notBefore: isLetter }),
  // Hugging Face user access tokens: hf_ + 34 letters (corpus).
  tokenRule({ name: 'huggingface-token', prefixes: ['hf_'], body: isLetter, min: 34, max: 34, notBefore: isLetter, notAfter: isAlnum }),
  // Linear API keys: lin_api_ + 40 [A-Za-z0-9] (corpus).
  tokenRule({ name: 'linear-api-key', prefixes: ['lin_api_'], body: isAlnum, min: 32 }),
  // Notion integration tokens: ntn_ + 11 digits + 35 [A-Za-z0-9] (corpus).
  tokenRule({ name: 'notion-token', prefixes: ['ntn_'], body: isAlnum, min: 46, max: 46, notBefore: isLetter, accept: (b) => allOf(b.slice(0, 11), isDigit) }),
  // npm access tokens: npm_ + 36 [A-Za-z0-9] (corpus; docs.npmjs.com about access tokens).
  tokenRule({ name: 'npm-token', prefixes: ['npm_'], body: isAlnum, min: 36, max: 36, notAfter: isAlnum }),
  // SendGrid API keys: SG. + 22 + . + 43 of [A-Za-z0-9_-] (corpus).
  tokenRule({ name: 'sendgrid-api-key', prefixes: ['SG.'], body: (c) => isUrlSafe(c) || c === 46, min: 66, max: 66, notAfter: isUrlSafe, accept: (b) => b.indexOf('.') === 22 && b.lastIndexOf('.') === 22 }),
  // Shopify: shpss_/shpat_/shpca_/shppa_ + 32 or more [A-Za-z0-9] (corpus; shopify.dev changelog).
  tokenRule({ name: 'shopify-token', prefixes: ['shpss_', 'shpat_', 'shpca_', 'shppa_'], body: isAlnum, min: 32 }),
  // Tailscale keys: tskey-<type>-<id>-<secret> (corpus; tailscale.com/kb/1085/auth-keys).
  tokenRule({ name: 'tailscale-key', prefixes: ['tskey-'], body: (c) => isAlnum(c) || c === 45, min: 30, notBefore: isLetter, accept: tailscaleBody }),
  // Vercel: vcp_/vci_/vca_/vcr_/vck_ + [A-Za-z0-9] (corpus).
  tokenRule({ name: 'vercel-token', prefixes: ['vcp_', 'vci_', 'vca_', 'vcr_', 'vck_'], body: isAlnum, min: 24 }),
  // Google API keys: AIza + 35 [A-Za-z0-9_-] (cloud.google.com/docs/authentication/api-keys).
  tokenRule({ name: 'google-api-key', prefixes: ['AIza'], body: isUrlSafe, min: 35, max: 35, notAfter: isUrlSafe }),
  jwtRule,
  bearerRule,
];
