// Spawns one benchmark child and collects its single JSON line from stdout.

import { spawn } from 'node:child_process';

/** What a child printed, or why it printed nothing usable. */
export type ChildOutcome =
  | { ok: true; json: unknown; stderr: string; seconds: number }
  | { ok: false; reason: string; stderr: string; seconds: number };

export interface SpawnOptions {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the child (only it, by pid) after this long. */
  timeoutSeconds: number;
  /** Forward the child's stderr live (prefixed) instead of only keeping its tail. */
  echoStderr?: boolean;
  /** Prefix for echoed stderr lines. */
  label?: string;
}

const STDERR_TAIL = 4000;

/** Runs the child to completion; never rejects (failures come back as `{ ok: false }`). */
export function spawnJson(options: SpawnOptions): Promise<ChildOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutSeconds * 1000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
      if (options.echoStderr) {
        for (const line of chunk.split('\n')) if (line.length > 0) process.stderr.write(`  [${options.label ?? 'child'}] ${line}\n`);
      }
    });
    const finish = (outcome: ChildOutcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    child.on('error', (error) => {
      finish({ ok: false, reason: `cannot start ${options.command}: ${error.message}`, stderr, seconds: elapsed(t0) });
    });
    child.on('close', (code, signal) => {
      const seconds = elapsed(t0);
      const line = stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.startsWith('{'))
        .pop();
      if (timedOut) return finish({ ok: false, reason: `timed out after ${options.timeoutSeconds} s`, stderr, seconds });
      if (line !== undefined) {
        try {
          return finish({ ok: true, json: JSON.parse(line), stderr, seconds });
        } catch {
          // fall through to the failure below
        }
      }
      const why = signal ? `killed by ${signal}` : `exit code ${code}`;
      const lastErr = stderr.trim().split('\n').slice(-3).join(' | ');
      finish({ ok: false, reason: `${why}, no JSON report${lastErr ? `: ${lastErr}` : ''}`, stderr, seconds });
    });
  });
}

function elapsed(t0: number): number {
  return (performance.now() - t0) / 1000;
}
