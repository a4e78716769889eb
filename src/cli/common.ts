// What every command shares: one line per error (the NearestError code and message; the stack
// only with --verbose), exit codes, --json output, and progress that is a bar with rate and ETA on
// a terminal and plain lines otherwise (both on stderr, so stdout stays the command's answer).
import { InvalidArgumentError, type Command } from 'commander';

/** Exit codes (documented in `nearest --help`). */
export const EXIT = {
  ok: 0,
  /** Any failure: bad input data, I/O, a store that cannot be opened. */
  error: 1,
  /** A usage error: unknown flag, missing argument (commander's own). */
  usage: 2,
  /** `verify` found damage. */
  damaged: 3,
} as const;

/** Flags every command takes. */
export interface CommonFlags { json?: boolean; verbose?: boolean }

/** Adds --json and --verbose. */
export function withCommonFlags(command: Command): Command {
  return command
    .option('--json', 'print the result as JSON on stdout (no progress bars)')
    .option('--verbose', 'print the stack of an error too');
}

/** A failure with its own exit code (e.g. verify's damage report). */
export class ExitError extends Error {
  constructor(message: string, readonly exitCode: number, readonly code = 'ERROR') { super(message); }
}

/** Runs a command's action: prints one line per error and exits with its code. */
export function action<A extends unknown[]>(name: string, run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const flags = (args.find((a) => typeof a === 'object' && a !== null && !Array.isArray(a) && !('commands' in (a as object))) ?? {}) as CommonFlags;
    try {
      await run(...args);
    } catch (e) {
      const err = e as { code?: string; message?: string; stack?: string; exitCode?: number };
      const line = `nearest ${name}: ${err.code && err.code !== 'ERROR' ? `${err.code}: ` : ''}${err.message ?? String(e)}`;
      if (flags.json) process.stdout.write(`${JSON.stringify({ error: { code: err.code ?? 'ERROR', message: err.message ?? String(e) } })}\n`);
      process.stderr.write(`${line}\n`);
      if (flags.verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = typeof err.exitCode === 'number' ? err.exitCode : EXIT.error;
    }
  };
}

/** A commander argParser for a positive integer flag (a bad value is a usage error, exit 2). */
export function positiveInt(name: string): (value: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** Prints a value as one line of JSON. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Progress of a long step. */
export interface Progress {
  /** Sets how much is done (and optionally a new total). */
  update(done: number, total?: number): void;
  /** Ends it: a final line. */
  stop(): void;
}

/**
 * A progress reporter on stderr: a cli-progress bar with rate and ETA when stderr is a terminal,
 * a plain line at most every 2 s (and at the end) when it is not, nothing with --json.
 */
export async function progress(label: string, total: number | undefined, unit: string, flags: CommonFlags): Promise<Progress> {
  if (flags.json) return { update() {}, stop() {} };
  const started = Date.now();
  const rate = (done: number): string => {
    const s = (Date.now() - started) / 1000;
    return s > 0 ? `${Math.round(done / s).toLocaleString('en-US')} ${unit}/s` : '';
  };
  if (process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {speed} | ETA {eta_formatted}`,
      stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 5,
    }, cliProgress.Presets.shades_classic);
    let last = 0;
    bar.start(total ?? 0, 0, { speed: '' });
    return {
      update(done, t) { last = done; if (t !== undefined) bar.setTotal(t); bar.update(done, { speed: rate(done) }); },
      stop() { bar.update(last, { speed: rate(last) }); bar.stop(); },
    };
  }
  let lastLine = 0, last = 0;
  const line = (done: number, t: number | undefined): void => {
    const pct = t ? ` (${Math.floor((100 * done) / t)}%)` : '';
    process.stderr.write(`${label}: ${done.toLocaleString('en-US')}${t ? `/${t.toLocaleString('en-US')}` : ''} ${unit}${pct}, ${rate(done)}\n`);
  };
  return {
    update(done, t) {
      last = done; if (t !== undefined) total = t;
      const now = Date.now();
      if (now - lastLine >= 2000) { lastLine = now; line(done, total); }
    },
    stop() { line(last, total); },
  };
}
