/**
 * `portcullis users`: local users of the built-in authorization server, in the store the config
 * file names. Passwords never come from argv (argv shows in `ps` and in shell history): they are
 * typed without echo on a terminal, or read as the first line of stdin.
 * Exit codes: 0 done, 1 failed (one `error:` line on stderr).
 */
import { Command } from 'commander';
import { MAX_PASSWORD_BYTES } from '../auth/users/password.js';
import { addUser, setUserDisabled } from '../auth/users/users.js';
import { collect, processDeps, runIdentity, table, type IdentityCliDeps, type IdentityContext } from './keys.js';

// Room for a maximal password plus a CRLF; anything longer is not a password line.
const MAX_LINE_BYTES = MAX_PASSWORD_BYTES + 2;

/** Reads the first line of a stream (without its `\n` or `\r\n`), refusing lines over the bound. */
export async function readFirstLine(stream: AsyncIterable<Buffer | string>, maxBytes = MAX_LINE_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
    const nl = b.indexOf(0x0a);
    const part = nl === -1 ? b : b.subarray(0, nl);
    size += part.length;
    if (size > maxBytes) throw new Error(`password line longer than ${MAX_PASSWORD_BYTES} bytes`);
    chunks.push(part);
    if (nl !== -1) break;
  }
  const line = Buffer.concat(chunks).toString('utf8');
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

type TtyIn = IdentityCliDeps['stdin'];

/** Prompts on stderr and reads one line from a terminal in raw mode, echoing nothing. */
function promptHidden(stdin: TtyIn, prompt: string): Promise<string> {
  process.stderr.write(prompt);
  stdin.setRawMode!(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let chars: string[] = [];
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode!(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(chars.join(''));
    };
    const onData = (data: string | Buffer) => {
      for (const ch of String(data)) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u0004') return finish(chars.length ? undefined : new Error('no password given'));
        if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1);
        else chars.push(ch);
        if (chars.length > MAX_PASSWORD_BYTES) return finish(new Error(`password longer than ${MAX_PASSWORD_BYTES} bytes`));
      }
    };
    stdin.on('data', onData);
  });
}

/** The new user's password: from stdin when asked or when stdin is not a terminal, else typed twice without echo. */
async function readNewPassword(d: IdentityCliDeps, fromStdin: boolean): Promise<string> {
  if (fromStdin || !d.stdin.isTTY || typeof d.stdin.setRawMode !== 'function') {
    return readFirstLine(d.stdin as AsyncIterable<Buffer | string>);
  }
  const first = await promptHidden(d.stdin, 'Password: ');
  const second = await promptHidden(d.stdin, 'Repeat password: ');
  if (first !== second) throw new Error('the passwords do not match');
  return first;
}

const configOption = ['-c, --config <file>', 'the YAML config file', './portcullis.yaml'] as const;

/** Builds the `users` command group (the caller adds it to the program). */
export function usersCommand(overrides: Partial<IdentityCliDeps> = {}): Command {
  const d: IdentityCliDeps = { ...processDeps, ...overrides };
  const cmd = new Command('users').description("Manage local users of the gateway's built-in authorization server.");

  cmd
    .command('add')
    .description('Add a user. The password is typed without echo, or read as the first line of stdin.')
    .option(...configOption)
    .requiredOption('--username <name>', 'login name: letters, digits, ".", "_", "@" and "-", at most 64')
    .option('--tenant <tenant>', 'the tenant the user belongs to', 'default')
    .option('--role <role>', 'a role the user carries (repeatable)', collect, [])
    .option('--password-stdin', 'read the password from the first line of stdin, even on a terminal')
    .action(async (opts: { config: string; username: string; tenant: string; role: string[]; passwordStdin?: boolean }) => {
      await runIdentity(d, opts.config, async (ctx) => {
        // Fail on a taken name before asking for a password nobody will use.
        if (await ctx.store.users.get(opts.username)) throw new Error(`user ${opts.username} exists`);
        const password = await readNewPassword(d, opts.passwordStdin === true);
        const u = await addUser(ctx.store.users, { username: opts.username, tenant: opts.tenant, roles: opts.role, password, now: d.now() });
        d.out(`added user ${u.username} (tenant ${u.tenant}${u.roles.length ? `, roles ${u.roles.join(',')}` : ''})`);
      });
    });

  cmd
    .command('list')
    .description('List users (never their password hashes).')
    .option(...configOption)
    .option('--json', 'print a JSON array')
    .action(async (opts: { config: string; json?: boolean }) => {
      await runIdentity(d, opts.config, async (ctx) => {
        const users = (await ctx.store.users.list()).map((u) => ({
          username: u.username,
          tenant: u.tenant,
          roles: u.roles,
          disabled: u.disabled,
          createdAt: u.createdAt.toISOString(),
        }));
        if (opts.json) {
          d.out(JSON.stringify(users));
          return;
        }
        const rows = users.map((u) => [u.username, u.disabled ? 'disabled' : 'active', u.tenant, u.roles.join(',') || '-', u.createdAt]);
        for (const l of table(['USERNAME', 'STATUS', 'TENANT', 'ROLES', 'CREATED'], rows)) d.out(l);
      });
    });

  const byName = (verb: string, description: string, act: (ctx: IdentityContext, username: string) => Promise<boolean>) =>
    cmd
      .command(verb)
      .description(description)
      .argument('<username>', 'the login name')
      .option(...configOption)
      .action(async (username: string, opts: { config: string }) => {
        await runIdentity(d, opts.config, async (ctx) => {
          if (!(await act(ctx, username))) {
            d.err(`error: no user named ${JSON.stringify(username.slice(0, 64))}`);
            return 1;
          }
          d.out(`${verb === 'remove' ? 'removed' : `${verb}d`} user ${username}`);
        });
      });

  byName('remove', 'Delete a user.', (ctx, u) => ctx.store.users.delete(u));
  byName('disable', 'Disable a user: logins fail until enabled again.', (ctx, u) => setUserDisabled(ctx.store.users, u, true));
  byName('enable', 'Enable a disabled user.', (ctx, u) => setUserDisabled(ctx.store.users, u, false));

  return cmd;
}
