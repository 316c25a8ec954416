/**
 * Builds the web console (console → dist/console/) with esbuild: one JS bundle, one CSS
 * file and index.html — everything the page needs, served by the server on the API's origin, so the page
 * makes no external request. `node:crypto` (used by crypto) is aliased to the browser SM3/HMAC in
 * console/node-crypto.ts, whose `Buffer` is injected as the global: the console signs
 * approvals and verifies receipts with THE crypto implementation, not a copy.
 *
 *   npm run build:console          (npm start and the console tests run it first)
 */
import { build, type Plugin } from 'esbuild';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'console');
const shim = path.join(src, 'node-crypto.ts');
export const CONSOLE_DIST = path.join(root, 'dist/console');

const browserCrypto: Plugin = {
  name: 'browser-crypto',
  setup(b) {
    b.onResolve({ filter: /^(node:)?crypto$/ }, () => ({ path: shim }));
    b.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `${args.path} (imported by ${path.relative(root, args.importer)}) does not exist in the browser` }],
    }));
  },
};

/**
 * zod re-exports all ~50 of its message locales (≈270 KiB minified) as one namespace, which the bundler
 * cannot tree-shake: the console bundles the two it speaks (English is zod's default; Chinese).
 */
const zodLocales: Plugin = {
  name: 'zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: path.resolve(path.dirname(args.importer), '../locales/index.js'), namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      // relative to resolveDir: the module's text holds no path of the build machine
      contents: `export { default as en } from './en.js';\nexport { default as zhCN } from './zh-CN.js';\n`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

/** A source map entry relative to the repository, never an absolute path of the machine that built it. */
function relativeSource(source: string, outDir: string): string {
  const at = source.replace(/^[\w-]+:/, ''); // plugin namespaces (zod-locales:/abs/path)
  const abs = path.isAbsolute(at) ? at : path.resolve(outDir, at);
  return path.relative(root, abs).split(path.sep).join('/');
}

export interface BuildResult {
  outDir: string;
  ms: number;
  bytes: Record<string, number>;
}

/**
 * Builds the console. No source map by default: a map names the build machine's absolute paths and serves
 * the sources to anyone; `sourcemap: true` (`npm run build:console -- --sourcemap`, for debugging) writes one
 * whose sources are relative to the repository and which the server does not serve. The bundle is built
 * beside `outDir` and swapped in, so a server reading `outDir` meanwhile sees the old bundle or the new one.
 */
export async function buildConsole(opts: { outDir?: string; minify?: boolean; sourcemap?: boolean } = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const outDir = path.resolve(opts.outDir ?? CONSOLE_DIST);
  const tmp = `${outDir}.building-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await mkdir(tmp, { recursive: true });
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: { app: path.join(src, 'main.ts') },
      outdir: tmp,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome110', 'firefox115', 'safari16'],
      minify: opts.minify ?? true,
      sourcemap: opts.sourcemap ? 'linked' : false,
      metafile: true,
      legalComments: 'none',
      inject: [shim],
      plugins: [browserCrypto, zodLocales],
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    await copyFile(path.join(src, 'index.html'), path.join(tmp, 'index.html'));
    for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.map'))) {
      const map = JSON.parse(await readFile(path.resolve(root, file), 'utf8')) as { sources: string[] };
      map.sources = map.sources.map((s) => relativeSource(s, tmp));
      await writeFile(path.resolve(root, file), JSON.stringify(map));
    }
    // what the bundle was made from, for consoleIsCurrent (not served: the server serves no dotfile)
    const inputs = [path.join(src, 'index.html'), ...Object.keys(result.metafile.inputs).filter((f) => !f.includes(':')).map((f) => path.resolve(root, f))];
    await writeFile(path.join(tmp, '.inputs.json'), JSON.stringify(inputs.map((f) => path.relative(root, f))));
    const old = `${tmp}.old`;
    await rename(outDir, old).catch(() => undefined);
    try {
      await rename(tmp, outDir);
    } catch (e) {
      // another build (a second server starting) swapped its bundle in first: the same sources, so the same bundle
      if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
    await rm(old, { recursive: true, force: true });
    const bytes: Record<string, number> = {};
    for (const [file, info] of Object.entries(result.metafile.outputs)) bytes[path.basename(file)] = info.bytes;
    return { outDir, ms: Math.round(performance.now() - t0), bytes };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Whether `outDir` holds a bundle built from the sources as they are now (no input changed since). */
export async function consoleIsCurrent(outDir: string = CONSOLE_DIST): Promise<boolean> {
  try {
    const built = (await stat(path.join(outDir, 'app.js'))).mtimeMs;
    const inputs = JSON.parse(await readFile(path.join(outDir, '.inputs.json'), 'utf8')) as string[];
    for (const f of inputs) if ((await stat(path.resolve(root, f))).mtimeMs > built) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * The console `npm start` serves, for any other way of starting the server (`shuyu server start`): the same
 * build into the same directory, skipped when the bundle there is current.
 */
export async function ensureConsole(): Promise<{ built: boolean; outDir: string }> {
  if (await consoleIsCurrent()) return { built: false, outDir: CONSOLE_DIST };
  return { built: true, outDir: (await buildConsole()).outDir };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildConsole({ sourcemap: process.argv.includes('--sourcemap') }).then(
    (r) => console.log(`console built in ${r.ms} ms → ${path.relative(root, r.outDir)}/ (${Object.entries(r.bytes).map(([f, n]) => `${f} ${(n / 1024).toFixed(0)} KiB`).join(', ')})`),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
