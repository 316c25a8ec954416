/**
 * `npm run build`: compiles the product into dist/ so that production runs plain JavaScript on node — no
 * TypeScript loader, no bundler at run time (neither is installed by `npm ci --omit=dev`).
 *
 *   dist/{crypto,formats,he,query,contracts,store,server,enclave,client-sdk,cli}/…  every module transpiled one to one by esbuild (types are
 *       erased, not checked: `npm run typecheck` does that), beside the assets the code finds next to itself
 *       (SQL migrations, the default policy JSON). One file per module keeps every `import.meta.url`-relative
 *       path valid and lets each worker/child entry (server, enclave process, HE worker, sealing worker, CLI)
 *       start on its own module without bundling the shared code into each.
 *   dist/enclave/sandbox/worker.bundle.cjs  the SQL sandbox worker as the one script it runs eval'd (sql.js external)
 *   dist/console/                        the web console (scripts/build-console.ts)
 *
 * Skipped when dist/ was built from the sources as they are now (`--force` rebuilds). Takes about a second.
 */
import { build, type BuildOptions } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureConsole } from './build-console.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(root, 'dist');
/** The compiled trees. */
const TREES = ['crypto', 'formats', 'he', 'query', 'contracts', 'store', 'server', 'enclave', 'client-sdk', 'cli'];
/** Files the code reads beside itself at run time (the .mjs files are tsx entries for the TypeScript tree only). */
const ASSET = /\.(sql|json)$/;
const STAMP = path.join(DIST, '.build.json');

/** The SQL sandbox worker bundle: enclave/sandbox/sandbox.ts reads it from beside itself in dist/ (under tsx it bundles the same way). */
export const SANDBOX_WORKER_BUNDLE: BuildOptions = {
  entryPoints: [path.join(root, 'enclave/sandbox/worker.ts')],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'silent',
  external: ['sql.js'],
};

function sources(): { ts: string[]; assets: string[] } {
  const ts: string[] = [];
  const assets: string[] = [];
  for (const tree of TREES) {
    for (const f of readdirSync(path.join(root, tree), { recursive: true, encoding: 'utf8' })) {
      const rel = path.join(tree, f);
      if (rel.endsWith('.ts') && !rel.endsWith('.d.ts')) ts.push(rel);
      else if (ASSET.test(rel)) assets.push(rel);
    }
  }
  return { ts: ts.sort(), assets: assets.sort() };
}

/** Whether dist/ holds a build of exactly these inputs, none changed since. */
function distIsCurrent(inputs: string[]): boolean {
  try {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8')) as { inputs: string[]; sourcesAt: number };
    if (stamp.inputs.join('\n') !== inputs.join('\n')) return false;
    return inputs.every((f) => statSync(path.join(root, f)).mtimeMs <= stamp.sourcesAt);
  } catch {
    return false;
  }
}

export async function buildDist(opts: { force?: boolean } = {}): Promise<{ built: boolean; ms: number; modules: number }> {
  const t0 = performance.now();
  // an input changed while the build reads it is newer than this: the next build is not skipped
  const sourcesAt = Date.now();
  const { ts, assets } = sources();
  // the lock too: the SQL sandbox worker bundle holds the code of the packages it imports (sql.js aside)
  const inputs = [...ts, ...assets, path.join('scripts', 'build.ts'), 'package.json', 'package-lock.json'];
  const consoleBuild = ensureConsole();
  consoleBuild.catch(() => {}); // awaited (and its failure thrown) below, after the server build
  if (!opts.force && distIsCurrent(inputs)) {
    await consoleBuild;
    return { built: false, ms: Math.round(performance.now() - t0), modules: ts.length };
  }
  // built beside dist/ and swapped in tree by tree: a server running from dist/ meanwhile keeps whole trees
  const tmp = path.join(DIST, `.building-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    await build({
      absWorkingDir: root,
      entryPoints: ts.map((f) => path.join(root, f)),
      outdir: tmp,
      outbase: root,
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // node ≥ 20.10 takes `with { type: 'json' }`; esbuild's node20 target would drop it
      supported: { 'import-attributes': true },
      logLevel: 'warning',
    });
    await build({ ...SANDBOX_WORKER_BUNDLE, absWorkingDir: root, outfile: path.join(tmp, 'enclave/sandbox/worker.bundle.cjs') });
    for (const a of assets) {
      mkdirSync(path.dirname(path.join(tmp, a)), { recursive: true });
      copyFileSync(path.join(root, a), path.join(tmp, a));
    }
    for (const tree of TREES) {
      const old = `${tmp}.old-${tree}`;
      if (existsSync(path.join(DIST, tree))) renameSync(path.join(DIST, tree), old);
      renameSync(path.join(tmp, tree), path.join(DIST, tree));
      rmSync(old, { recursive: true, force: true });
    }
    writeFileSync(STAMP, JSON.stringify({ inputs, sourcesAt }) + '\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  await consoleBuild;
  return { built: true, ms: Math.round(performance.now() - t0), modules: ts.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDist({ force: process.argv.includes('--force') }).then(
    (r) => console.log(r.built ? `built dist/ in ${r.ms} ms (${r.modules} modules, the SQL sandbox worker, the console)` : `dist/ is current (${r.ms} ms)`),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
