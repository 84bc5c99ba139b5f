/**
 * Server-rendered HTML of the login, consent and error pages. Every interpolated value goes
 * through `esc`; pages load nothing (no scripts, no external styles), which the CSP enforces.
 */
import type { ServerResponse } from 'node:http';

/** Headers on every page (and redirect) the interaction routes send. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  pragma: 'no-cache',
  // Not no-referrer: Chromium then sends `Origin: null` on the form posts, which the origin check refuses.
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

/** HTML-escapes text for element content and double-quoted attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"'`=/]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}' +
  'label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}' +
  'button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.err{color:#a00}code{word-break:break-all}' +
  'ul{padding-left:1.2rem}';

function layout(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

/** Sends a page with the security headers (a header already set on `res`, such as a narrowed CSP, is kept). */
export function sendPage(res: ServerResponse, status: number, html: string): void {
  for (const [k, v] of Object.entries(PAGE_HEADERS)) if (!res.hasHeader(k)) res.setHeader(k, v);
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

/** What the login page shows. */
export interface LoginView {
  uid: string;
  csrf: string;
  clientName: string;
  error?: string;
  username?: string;
  /** External providers, one "Sign in with …" button each (`#federated-<name>`). */
  federated?: ReadonlyArray<{ name: string; displayName: string }>;
}

/** The sign-in form: `#username`, `#password`, `#login`, and a `#federated-<name>` form per provider. */
export function loginPage(v: LoginView): string {
  const err = v.error ? `<p class="err" role="alert">${esc(v.error)}</p>` : '';
  const federated = (v.federated ?? [])
    .map(
      (f) =>
        `<form method="post" action="/interaction/${esc(v.uid)}/federated/${esc(f.name)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}">` +
        `<button id="federated-${esc(f.name)}" type="submit">Sign in with ${esc(f.displayName)}</button></form>`,
    )
    .join('');
  return layout(
    'Sign in',
    `<h1>Sign in</h1><p>to continue to <strong>${esc(v.clientName)}</strong></p>${err}` +
      `<form method="post" action="/interaction/${esc(v.uid)}/login" autocomplete="on">` +
      `<input type="hidden" name="csrf" value="${esc(v.csrf)}">` +
      `<label for="username">Username</label><input id="username" name="username" required autofocus autocomplete="username" maxlength="64" value="${esc(v.username ?? '')}">` +
      `<label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password" maxlength="1024">` +
      `<button id="login" type="submit">Sign in</button></form>` +
      (federated ? `<p>or</p>${federated}` : '') +
      abortForm(v.uid, v.csrf, 'Cancel'),
  );
}

/** What the consent page shows. */
export interface ConsentView {
  uid: string;
  csrf: string;
  clientName: string;
  clientId: string;
  redirectUri: string;
  username: string;
  /** Scope name → description (may be empty). */
  scopes: Array<{ name: string; description?: string }>;
  /** The resources (audiences) the token will be for. */
  resources: string[];
}

/** The consent form: `#approve` (confirm) and `#deny` (abort). */
export function consentPage(v: ConsentView): string {
  const scopes = v.scopes
    .map((s) => `<li><code>${esc(s.name)}</code>${s.description ? ` — ${esc(s.description)}` : ''}</li>`)
    .join('');
  const resources = v.resources.map((r) => `<li><code>${esc(r)}</code></li>`).join('');
  return layout(
    'Authorize access',
    `<h1>Authorize <span id="client-name">${esc(v.clientName)}</span></h1>` +
      `<p>Signed in as <strong>${esc(v.username)}</strong>. The application <strong>${esc(v.clientName)}</strong> ` +
      `(client id <code>${esc(v.clientId)}</code>) asks for:</p><ul id="scopes">${scopes}</ul>` +
      (resources ? `<p>for</p><ul id="resources">${resources}</ul>` : '') +
      `<p>You will be sent back to <code id="redirect-uri">${esc(v.redirectUri)}</code></p>` +
      `<form method="post" action="/interaction/${esc(v.uid)}/confirm"><input type="hidden" name="csrf" value="${esc(v.csrf)}">` +
      `<button id="approve" type="submit">Allow</button></form>` +
      `<form method="post" action="/interaction/${esc(v.uid)}/abort"><input type="hidden" name="csrf" value="${esc(v.csrf)}">` +
      `<button id="deny" type="submit">Deny</button></form>`,
  );
}

function abortForm(uid: string, csrf: string, label: string): string {
  return `<form method="post" action="/interaction/${esc(uid)}/abort"><input type="hidden" name="csrf" value="${esc(csrf)}">` +
    `<button id="cancel" type="submit">${esc(label)}</button></form>`;
}

/** A plain error page; `message` is shown escaped and must not carry secrets. `back` adds a same-origin link (`#back`). */
export function errorPage(title: string, message: string, back?: { href: string; label: string }): string {
  const link = back && back.href.startsWith('/') && !back.href.startsWith('//') ? `<p><a id="back" href="${esc(back.href)}">${esc(back.label)}</a></p>` : '';
  return layout(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>${link}`);
}
