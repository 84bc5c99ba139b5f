/**
 * Runs the `portcullis` CLI from the sources as a child process (no shell), with a 60 s cap,
 * and collects its exit code and output. PORTCULLIS_PORT is cleared so a developer's setting
 * never leaks into a test.
 */
import { spawn } from 'node:child_process';
import { repoPath } from './gateway.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', repoPath('src/cli/index.ts'), ...args], {
    cwd: repoPath(),
    env: { ...process.env, PORTCULLIS_PORT: '', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // The CLI may exit before reading all of stdin; that is not a test failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
