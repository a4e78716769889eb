// What the adapter tests (dropins, langchain, llamaindex) share: temporary directories removed
// after the file's tests, and running the example of a docs page.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';

/** A maker of fresh temporary directories (named `nearest-<name>-…`), all removed after the file's tests. */
export function tempDirs(name: string): () => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });
  return async () => {
    const d = await mkdtemp(join(tmpdir(), `nearest-${name}-`));
    dirs.push(d);
    return d;
  };
}

/** Runs the first ```js block of docs/<page> in a child node (from the repository's root) and returns its output lines. */
export async function docExampleLines(page: string): Promise<string[]> {
  const md = await readFile(new URL(`../docs/${page}`, import.meta.url), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(md)![1]!;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { cwd: new URL('..', import.meta.url), timeout: 60_000 });
  return stdout.trim().split('\n');
}
