// hnswlib-node rebuilt with -march=native: the strongest build of the native peer on this CPU
// (hnswlib picks its AVX / AVX-512 distance kernels at compile time; npm's node-gyp build uses
// neither). The installed package is copied to bench/.cache/hnswlib-node-native and rebuilt there
// with npm's bundled node-gyp against the local Node headers — offline, once; a stamp file keeps
// the build until the package version, the flags or Node change.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const NATIVE_FLAGS = '-O3 -march=native';

interface Stamp {
  version: string;
  flags: string;
  node: string;
  napi: string;
  builtAt: string;
  nodeGyp: string;
}

/** Candidate node-gyp entry points: a local install, then npm's bundled copy next to this node. */
function nodeGypCandidates(repoRoot: string): string[] {
  const out: string[] = [];
  try {
    out.push(createRequire(join(repoRoot, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency
  }
  const prefix = dirname(dirname(process.execPath));
  out.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout?.trim();
  if (npm) {
    try {
      const real = realpathSync(npm); // .../lib/node_modules/npm/bin/npm-cli.js
      out.push(join(dirname(dirname(real)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    } catch {
      // dangling
    }
  }
  return [...new Set(out)].filter((p) => existsSync(p));
}

/** Node headers for node-gyp without a download: the prefix of this node when it ships include/node. */
function localNodeDir(): string | null {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/**
 * Returns the directory of the rebuilt package (require()-able), or why it could not be built.
 * Logs what it does; the first build takes ~10-60 s.
 */
export function ensureNativeHnswlib(repoRoot: string, cacheDir: string, log: (m: string) => void): { path: string; flags: string } | { skipped: string } {
  const source = join(repoRoot, 'node_modules', 'hnswlib-node');
  if (!existsSync(join(source, 'package.json'))) return { skipped: 'hnswlib-node is not installed' };
  const version = (JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as { version: string }).version;
  const target = join(cacheDir, 'hnswlib-node-native');
  const stampPath = join(target, '.nearest-bench-stamp.json');
  const addon = join(target, 'build', 'Release', 'addon.node');
  const want = { version, flags: NATIVE_FLAGS, node: process.version, napi: process.versions.napi ?? '?' };
  if (existsSync(stampPath) && existsSync(addon)) {
    try {
      const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as Stamp;
      if (stamp.version === want.version && stamp.flags === want.flags && stamp.node === want.node) {
        const check = verify(target, repoRoot);
        if (check === null) {
          log(`hnswlib-node -march=native: cached build (${stamp.builtAt})`);
          return { path: target, flags: NATIVE_FLAGS };
        }
        log(`hnswlib-node -march=native: cached build does not load (${check}); rebuilding`);
      }
    } catch {
      // unreadable stamp: rebuild
    }
  }
  const gyp = nodeGypCandidates(repoRoot)[0];
  if (!gyp) return { skipped: 'node-gyp not found (neither a local install nor the copy bundled with npm)' };
  const nodedir = localNodeDir();
  log(`hnswlib-node -march=native: building in ${target} with ${gyp}${nodedir ? ` --nodedir=${nodedir}` : ''} (CXXFLAGS="${NATIVE_FLAGS}")`);
  rmSync(target, { recursive: true, force: true });
  const skipDirs = [join(source, 'build'), join(source, 'node_modules')];
  cpSync(source, target, { recursive: true, filter: (src) => !skipDirs.some((d) => src === d || src.startsWith(`${d}/`)) });
  const t0 = performance.now();
  const args = [gyp, 'rebuild', '--release'];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const r = spawnSync(process.execPath, args, {
    cwd: target,
    encoding: 'utf8',
    timeout: 600_000,
    env: {
      ...process.env,
      CXXFLAGS: NATIVE_FLAGS,
      CFLAGS: NATIVE_FLAGS,
      // binding.gyp runs `node -p "require('node-addon-api').include_dir"`; lib/index.js requires 'bindings'.
      NODE_PATH: join(repoRoot, 'node_modules'),
      npm_config_nodedir: nodedir ?? '',
      npm_config_offline: 'true',
    },
  });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').filter((l) => /error|ERR!/i.test(l)).slice(-4).join(' | ');
    return { skipped: `node-gyp rebuild failed (${r.error ? r.error.message : `exit ${r.status}`})${tail ? `: ${tail.slice(0, 400)}` : ''}` };
  }
  const check = verify(target, repoRoot);
  if (check !== null) return { skipped: `rebuilt addon does not work: ${check}` };
  const stamp: Stamp = { ...want, builtAt: new Date().toISOString(), nodeGyp: gyp };
  writeFileSync(stampPath, `${JSON.stringify(stamp, null, 2)}\n`);
  log(`hnswlib-node -march=native: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { path: target, flags: NATIVE_FLAGS };
}

/** Loads the rebuilt package in a separate node and runs a tiny search; null when it works. */
function verify(dir: string, repoRoot: string): string | null {
  const code = `const h = require(${JSON.stringify(dir)}); const i = new h.HierarchicalNSW('l2', 3); i.initIndex(4, 16, 200, 100);
i.addPoint([0, 0, 0], 0); i.addPoint([1, 1, 1], 1); const r = i.searchKnn([0.9, 1, 1], 1);
if (r.neighbors[0] !== 1) throw new Error('wrong answer ' + JSON.stringify(r));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000, cwd: repoRoot });
  if (r.status === 0) return null;
  return (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').filter((l) => l.trim()).slice(-1)[0] ?? `exit ${r.status}`;
}
