/**
 * A scripted browser for the built-in authorization server's pages: a cookie jar, manual
 * redirects, and a sign-in that fills the login form and approves consent (no Chromium).
 */
import assert from 'node:assert/strict';

/** Cookies by name and path (what oidc-provider and the binding cookie need). */
export class Jar {
  private readonly c = new Map<string, { name: string; value: string; path: string }>();
  /** Every Set-Cookie value seen, in order (tests inspect attributes). */
  readonly raw: string[] = [];

  store(setCookies: string[]): void {
    for (const sc of setCookies) {
      this.raw.push(sc);
      const [pair = '', ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const p = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const path = p ? p.slice(5) : '/';
      const gone = value === '' || attrs.some((a) => /^max-age=0$/i.test(a.trim()) || /expires=thu, 01 jan 1970/i.test(a.trim()));
      if (gone) this.c.delete(`${name} ${path}`);
      else this.c.set(`${name} ${path}`, { name, value, path });
    }
  }
  header(path: string): string {
    const under = (p: string) => p === '/' || path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`);
    return [...this.c.values()].filter((x) => under(x.path)).map((x) => `${x.name}=${x.value}`).join('; ');
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  location?: URL;
}

export async function http(jar: Jar | undefined, method: string, url: string | URL, form?: Record<string, string>): Promise<Reply> {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  const cookie = jar?.header(u.pathname);
  if (cookie) headers.cookie = cookie;
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(u, { method, headers, ...(form ? { body: new URLSearchParams(form).toString() } : {}), redirect: 'manual', signal: AbortSignal.timeout(15_000) });
  jar?.store(res.headers.getSetCookie());
  const loc = res.headers.get('location');
  return { status: res.status, headers: res.headers, text: await res.text(), ...(loc ? { location: new URL(loc, u) } : {}) };
}

/**
 * Plays the user at the built-in AS: follows redirects from `start`, signs in and approves,
 * until a redirect leaves for `callbackPrefix`; returns that URL (not requested).
 */
export async function signInAs(username: string, password: string, jar: Jar, start: string | URL, callbackPrefix: string): Promise<URL> {
  let url = new URL(start);
  for (let step = 0; step < 16; step++) {
    const r = await http(jar, 'GET', url);
    if (r.status >= 300 && r.status < 400 && r.location) {
      if (r.location.href.startsWith(callbackPrefix)) return r.location;
      url = r.location;
      continue;
    }
    const uid = /\/interaction\/([A-Za-z0-9_-]+)$/.exec(url.pathname)?.[1];
    assert.equal(r.status, 200, `unexpected ${r.status} at ${url.pathname}: ${r.text.slice(0, 200)}`);
    assert.ok(uid, `not an interaction page: ${url.pathname}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(r.text)?.[1] ?? '';
    const consent = r.text.includes('id="approve"');
    const post = await http(jar, 'POST', new URL(`/interaction/${uid}/${consent ? 'confirm' : 'login'}`, url), consent ? { csrf } : { csrf, username, password });
    assert.equal(post.status, 303, post.text.slice(0, 200));
    assert.ok(post.location);
    url = post.location;
  }
  throw new Error('the sign-in did not reach the callback');
}
