/**
 * The login and consent pages at `/interaction/:uid` and their form posts (`/login`, `/confirm`,
 * `/abort`, `/federated/:name`), plus the federation callback `/interaction/callback/federated`.
 * Each interaction gets a random CSRF token bound to its uid; a post without the right token is
 * refused with 403 before anything else happens. Failed logins are limited per username and
 * client address, and every failure reads the same (no user enumeration).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { UserStore } from '../../storage/ports.js';
import { authenticateUser } from '../users/users.js';
import type { FederatedAccounts } from './federation-accounts.js';
import { FEDERATION_CALLBACK_PATH, FederationUnavailableError, type Federation } from './federation.js';
import { FormError, readForm } from './form.js';
import { PAGE_HEADERS, consentPage, errorPage, loginPage, sendPage } from './pages.js';
import { consentKey, FIXED_TTL } from './provider-config.js';
import { AttemptLimiter, TtlMap } from './ttl-map.js';

const UID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const ROUTE_RE = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort)|\/federated\/([^/]+))?$/;
const GENERIC_LOGIN_ERROR = 'Invalid username or password.';
const THROTTLED_ERROR = 'Too many failed attempts. Try again in a few minutes.';
const EXPIRED = 'This sign-in request has expired or is not valid. Start again from the application.';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/** What the interaction routes need. */
export interface InteractionDeps {
  /** The current provider (it is replaced when the signing key rotates). */
  provider: () => Provider;
  users: UserStore;
  consents: TtlMap<string>;
  issuerOrigin: string;
  clientIp: (req: IncomingMessage) => string;
  scopeDescriptions: ReadonlyMap<string, string>;
  /** Federated sign-in ("Sign in with …"); absent when no provider is configured. */
  federation?: { providers: Federation; accounts: FederatedAccounts };
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
}

/** Handles one request under `/interaction/`; always answers. */
export type InteractionHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

/** Builds the handler with its per-process state (CSRF tokens, failure counters). */
export function createInteractionHandler(deps: InteractionDeps): InteractionHandler {
  const csrfTokens = new TtlMap<string>(20_000, FIXED_TTL.interaction * 1000);
  const limiter = new AttemptLimiter(10, 5 * 60_000, 20_000);

  const csrfFor = (uid: string): string => {
    let t = csrfTokens.get(uid);
    if (!t) csrfTokens.set(uid, (t = randomBytes(32).toString('base64url')));
    return t;
  };
  const csrfOk = (uid: string, given: string | undefined): boolean => {
    const expected = csrfTokens.get(uid);
    if (!expected || given === undefined) return false;
    const a = Buffer.from(expected);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const details = async (req: IncomingMessage, res: ServerResponse, uid: string): Promise<Details | undefined> => {
    try {
      const d = await deps.provider().interactionDetails(req, res);
      return d.uid === uid ? d : undefined;
    } catch {
      return undefined;
    }
  };

  const clientName = async (clientId: unknown): Promise<{ id: string; name: string }> => {
    const id = typeof clientId === 'string' ? clientId : '';
    const client = id ? await deps.provider().Client.find(id).catch(() => undefined) : undefined;
    return { id, name: client?.clientName ?? id };
  };

  const showLogin = async (res: ServerResponse, d: Details, status: number, error?: string, username?: string): Promise<void> => {
    const c = await clientName(d.params.client_id);
    const federated = deps.federation?.providers.buttons() ?? [];
    sendPage(
      res,
      status,
      loginPage({ uid: d.uid, csrf: csrfFor(d.uid), clientName: c.name, federated, ...(error ? { error } : {}), ...(username ? { username } : {}) }),
    );
  };

  const showConsent = async (res: ServerResponse, d: Details): Promise<void> => {
    const c = await clientName(d.params.client_id);
    const missing = (d.prompt.details ?? {}) as ConsentDetails;
    const names = new Set<string>(typeof d.params.scope === 'string' ? d.params.scope.split(' ').filter(Boolean) : []);
    for (const s of missing.missingOIDCScope ?? []) names.add(s);
    for (const list of Object.values(missing.missingResourceScopes ?? {})) for (const s of list) names.add(s);
    const resources = new Set<string>(Object.keys(missing.missingResourceScopes ?? {}));
    const rp = d.params.resource;
    for (const r of Array.isArray(rp) ? rp : [rp]) if (typeof r === 'string') resources.add(r);
    const scopes = [...names].map((name) => {
      const description = deps.scopeDescriptions.get(name);
      return description ? { name, description } : { name };
    });
    sendPage(
      res,
      200,
      consentPage({
        uid: d.uid,
        csrf: csrfFor(d.uid),
        clientName: c.name,
        clientId: c.id,
        redirectUri: typeof d.params.redirect_uri === 'string' ? d.params.redirect_uri : '',
        username: d.session?.accountId ?? '',
        scopes,
        resources: [...resources],
      }),
    );
  };

  const login = async (req: IncomingMessage, res: ServerResponse, d: Details, form: Map<string, string>): Promise<void> => {
    if (d.prompt.name !== 'login') return sendPage(res, 400, errorPage('Sign-in failed', EXPIRED));
    const username = (form.get('username') ?? '').slice(0, 256);
    const password = form.get('password') ?? '';
    const key = `${username}\u0000${deps.clientIp(req)}`;
    if (limiter.blocked(key)) return showLogin(res, d, 429, THROTTLED_ERROR, username);
    const user = username && password ? await authenticateUser(deps.users, username, password) : undefined;
    if (!user) {
      limiter.fail(key);
      deps.logger.warn({ event: 'as.login_failed', ip: deps.clientIp(req) }, 'authorization server: failed sign-in');
      return showLogin(res, d, 401, GENERIC_LOGIN_ERROR, username);
    }
    limiter.reset(key);
    csrfTokens.delete(d.uid);
    deps.logger.info({ event: 'as.login', sub: user.username, tenant: user.tenant }, 'authorization server: signed in');
    await deps.provider().interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
  };

  /** "Sign in with <provider>": 303 to the provider's authorization endpoint. */
  const federatedStart = async (res: ServerResponse, d: Details, name: string): Promise<void> => {
    const fed = deps.federation?.providers;
    const displayName = fed?.displayName(name);
    if (!fed || displayName === undefined) return sendPage(res, 404, errorPage('Not found', 'There is no such sign-in method.'));
    if (d.prompt.name !== 'login') return sendPage(res, 400, errorPage('Sign-in failed', EXPIRED));
    let location: string;
    try {
      location = await fed.begin(d.uid, name);
    } catch (e) {
      if (!(e instanceof FederationUnavailableError)) throw e;
      deps.logger.warn({ event: 'as.federation_unavailable', idp: name }, 'authorization server: federation provider unavailable');
      return sendPage(
        res,
        502,
        errorPage('Sign-in unavailable', `Sign-in with ${displayName} is not available right now. Try again later, or sign in another way.`, { href: `/interaction/${d.uid}`, label: 'Back to sign-in' }),
      );
    }
    deps.logger.info({ event: 'as.federation_started', idp: name }, 'authorization server: federated sign-in started');
    res.writeHead(303, { location, 'content-length': '0' });
    res.end();
  };

  /**
   * The provider's redirect back. It arrives on a fixed path, where the browser does not send
   * the interaction cookie (scoped to `/interaction/<uid>`), so `interactionDetails` and
   * `interactionFinished` cannot be used: the interaction is loaded by the uid bound to the
   * (single-use) state, given its login result and saved, exactly as `interactionResult` does,
   * and the browser goes on to its `returnTo` (`/auth/<uid>`). There oidc-provider's resume step
   * requires the resume cookie of that same uid, which only the browser that started this
   * authorization holds, so a callback URL replayed in another browser cannot complete it.
   */
  const federatedCallback = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const fed = deps.federation;
    if (!fed) return sendPage(res, 404, errorPage('Not found', 'There is nothing here.'));
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    // The query holds the provider's code: keep it out of any Referer.
    res.setHeader('referrer-policy', 'no-referrer');
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const outcome = await fed.providers.complete(q === -1 ? '' : raw.slice(q));
    if (!outcome.ok) {
      deps.logger.warn(
        { event: 'as.federation_refused', idp: outcome.idp, reason: outcome.reason.slice(0, 200).replace(/[^\w .:,"()-]/g, '?') },
        'authorization server: federated sign-in refused',
      );
      const back = outcome.uid !== undefined ? { href: `/interaction/${outcome.uid}`, label: 'Back to sign-in' } : undefined;
      return sendPage(res, outcome.status, errorPage('Sign-in failed', outcome.message, back));
    }
    const interaction = await deps.provider().Interaction.find(outcome.uid);
    const ttl = interaction ? interaction.exp - Math.floor(Date.now() / 1000) : 0;
    if (!interaction || interaction.prompt.name !== 'login' || ttl <= 0) return sendPage(res, 400, errorPage('Sign-in failed', EXPIRED));
    fed.accounts.set(outcome.accountId, { idp: outcome.idp, tenant: outcome.tenant, roles: outcome.roles });
    interaction.result = { login: { accountId: outcome.accountId } };
    await interaction.save(ttl);
    csrfTokens.delete(outcome.uid);
    deps.logger.info({ event: 'as.login', sub: outcome.accountId, tenant: outcome.tenant, idp: outcome.idp }, 'authorization server: signed in (federated)');
    res.writeHead(303, { location: interaction.returnTo, 'content-length': '0' });
    res.end();
  };

  const confirm = async (req: IncomingMessage, res: ServerResponse, d: Details): Promise<void> => {
    const accountId = d.session?.accountId;
    const clientId = d.params.client_id;
    if (d.prompt.name !== 'consent' || !accountId || typeof clientId !== 'string') return sendPage(res, 400, errorPage('Sign-in failed', EXPIRED));
    const provider = deps.provider();
    const missing = (d.prompt.details ?? {}) as ConsentDetails;
    const existing = d.grantId ? await provider.Grant.find(d.grantId) : undefined;
    const grant = existing && existing.accountId === accountId && existing.clientId === clientId ? existing : new provider.Grant({ accountId, clientId });
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    deps.consents.set(consentKey(accountId, clientId), grantId);
    csrfTokens.delete(d.uid);
    deps.logger.info({ event: 'as.consent', sub: accountId, client: clientId }, 'authorization server: consent granted');
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };

  const abort = async (req: IncomingMessage, res: ServerResponse, d: Details): Promise<void> => {
    csrfTokens.delete(d.uid);
    await deps.provider().interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
  };

  /** The federation providers' origins, which the login page's forms redirect to (see setFormAction). */
  const loginSources = (d: Details): string[] => (d.prompt.name === 'login' ? (deps.federation?.providers.formActionSources() ?? []) : []);

  return async (req, res, path) => {
    if (path === FEDERATION_CALLBACK_PATH) {
      for (const [k, v] of Object.entries(PAGE_HEADERS)) res.setHeader(k, v);
      try {
        return await federatedCallback(req, res);
      } catch (e) {
        deps.logger.error({ event: 'as.interaction_error', err: e instanceof Error ? e.message : String(e) }, 'authorization server: federation callback failed');
        if (!res.headersSent) sendPage(res, 500, errorPage('Error', 'Something went wrong. Start again from the application.'));
        else res.end();
        return;
      }
    }
    const m = ROUTE_RE.exec(path);
    const uid = m?.[1];
    if (!m || uid === undefined || !UID_RE.test(uid)) return sendPage(res, 404, errorPage('Not found', 'There is nothing here.'));
    const action = m[2] ?? (m[3] !== undefined ? 'federated' : undefined);
    // Form posts and the redirects they lead to carry the page headers too.
    for (const [k, v] of Object.entries(PAGE_HEADERS)) res.setHeader(k, v);
    try {
      if (action === undefined) {
        if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
        const d = await details(req, res, uid);
        if (!d) return sendPage(res, 400, errorPage('Sign-in failed', EXPIRED));
        setFormAction(res, d, loginSources(d));
        return d.prompt.name === 'login' ? showLogin(res, d, 200) : showConsent(res, d);
      }
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== deps.issuerOrigin) return sendPage(res, 403, errorPage('Forbidden', 'Cross-origin form submission refused.'));
      const form = await readForm(req);
      if (!csrfOk(uid, form.get('csrf'))) {
        deps.logger.warn({ event: 'as.csrf_rejected' }, 'authorization server: form without a valid CSRF token');
        return sendPage(res, 403, errorPage('Forbidden', 'The form has expired. Go back and try again.'));
      }
      const d = await details(req, res, uid);
      if (!d) return sendPage(res, 400, errorPage('Sign-in failed', EXPIRED));
      setFormAction(res, d, loginSources(d));
      if (action === 'federated') return await federatedStart(res, d, m[3] ?? '');
      if (action === 'login') return await login(req, res, d, form);
      if (action === 'confirm') return await confirm(req, res, d);
      return await abort(req, res, d);
    } catch (e) {
      if (e instanceof FormError) return sendPage(res, e.status, errorPage('Bad request', e.message));
      deps.logger.error({ event: 'as.interaction_error', err: e instanceof Error ? e.message : String(e) }, 'authorization server: interaction failed');
      if (!res.headersSent) sendPage(res, 500, errorPage('Error', 'Something went wrong. Start again from the application.'));
      else res.end();
    }
  };
}

/**
 * Chromium applies `form-action` to every redirect that follows a form post, and the login and
 * consent posts end in a redirect to the client's redirect URI (usually another loopback port).
 * So the page's CSP lists that one redirect URI's origin (or scheme, for a private-use scheme)
 * next to 'self'; the redirect URI was already checked against the client's registration. The
 * login page also lists the federation providers (`extra`): its "Sign in with …" posts answer
 * 303 to the provider's authorization endpoint.
 */
function setFormAction(res: ServerResponse, d: Details, extra: readonly string[]): void {
  const target = formActionSource(d.params.redirect_uri);
  const sources = [...new Set([...(target ? [target] : []), ...extra])];
  if (sources.length === 0) return;
  res.setHeader('content-security-policy', PAGE_HEADERS['content-security-policy']!.replace("form-action 'self'", `form-action 'self' ${sources.join(' ')}`));
}

/** The CSP source expression for a redirect URI, or undefined when it cannot be expressed safely. */
export function formActionSource(redirectUri: unknown): string | undefined {
  if (typeof redirectUri !== 'string') return undefined;
  let u: URL;
  try {
    u = new URL(redirectUri);
  } catch {
    return undefined;
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') return /^[a-z0-9.:[\]-]+$/i.test(u.host) ? `${u.protocol}//${u.host}` : undefined;
  return /^[a-z][a-z0-9+.-]{0,63}:$/i.test(u.protocol) ? u.protocol : undefined;
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  sendPage(res, 405, errorPage('Method not allowed', 'This page does not accept that method.'));
}
