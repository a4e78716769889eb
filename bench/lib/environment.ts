// The machine and software a benchmark ran on, recorded next to every result.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export interface Environment {
  date: string;
  cpuModel: string;
  logicalCpus: number;
  totalMemoryBytes: number;
  os: string;
  node: string;
  python?: string;
  loadAverage: number[];
  gitCommit?: string;
  packages: Record<string, string>;
  command: string;
}

function firstLine(command: string, args: string[], cwd?: string): string | undefined {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) return undefined;
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
  return text && text.length > 0 ? text : undefined;
}

function cpuModel(): string {
  const fromNode = os.cpus()[0]?.model?.trim();
  try {
    // /proc/cpuinfo has the same string; lscpu sometimes knows more (vendor family) on VMs.
    const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' });
    const line = lscpu.stdout?.split('\n').find((l) => l.startsWith('Model name:'));
    if (line) return line.replace('Model name:', '').trim();
  } catch {
    // lscpu missing
  }
  return fromNode ?? 'unknown';
}

function packageVersion(root: string, name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export function describeEnvironment(repoRoot: string, python: string): Environment {
  const packages: Record<string, string> = {};
  for (const name of ['usearch', 'hnswlib-node', 'tsx', 'typescript']) {
    const v = packageVersion(repoRoot, name);
    if (v) packages[name] = v;
  }
  try {
    packages.nearest = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // no package.json
  }
  const env: Environment = {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    logicalCpus: os.cpus().length,
    totalMemoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100),
    packages,
    command: ['tsx', 'bench/run.ts', ...process.argv.slice(2)].join(' '),
  };
  const py = firstLine(python, ['--version']);
  if (py) env.python = `${py} (${python})`;
  const git = firstLine('git', ['rev-parse', '--short', 'HEAD'], repoRoot);
  if (git && /^[0-9a-f]+$/.test(git)) env.gitCommit = git;
  return env;
}
