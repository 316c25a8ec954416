/**
 * Builds the web console (server/console/browser → dist/console/) with esbuild: one JS bundle, one CSS
 * file and index.html — everything the page needs, served by the server on the API's origin, so the page
 * makes no external request. `node:crypto` (used by enclave/crypto) is aliased to the browser SM3/HMAC in
 * server/console/browser/node-crypto.ts, whose `Buffer` is injected as the global: the console signs
 * approvals and verifies receipts with THE crypto implementation, not a copy.
 *
 *   npm run build:console          (npm start and the console tests run it first)
 */
import { build, type Plugin } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'server/console/browser');
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
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};\nexport { default as zhCN } from ${JSON.stringify(path.join(path.dirname(args.path), 'zh-CN.js'))};\n`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

export interface BuildResult {
  outDir: string;
  ms: number;
  bytes: Record<string, number>;
}

export async function buildConsole(opts: { outDir?: string; minify?: boolean } = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const outDir = opts.outDir ?? CONSOLE_DIST;
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: { app: path.join(src, 'main.ts') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: opts.minify ?? true,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'none',
    inject: [shim],
    plugins: [browserCrypto, zodLocales],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  await copyFile(path.join(src, 'index.html'), path.join(outDir, 'index.html'));
  const bytes: Record<string, number> = {};
  for (const [file, info] of Object.entries(result.metafile.outputs)) bytes[path.basename(file)] = info.bytes;
  return { outDir, ms: Math.round(performance.now() - t0), bytes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildConsole().then(
    (r) => console.log(`console built in ${r.ms} ms → ${path.relative(root, r.outDir)}/ (${Object.entries(r.bytes).map(([f, n]) => `${f} ${(n / 1024).toFixed(0)} KiB`).join(', ')})`),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
