/**
 * The folder layering of docs/architecture.md, as .dependency-cruiser.cjs states it: the rules pass on the
 * tree, fail on a copy of the tree with one forbidden import added, and no two folders depend on each other.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const PRODUCT = ['crypto', 'contracts', 'formats', 'he', 'query', 'store', 'enclave', 'server', 'client-sdk', 'console', 'cli'];
const run = promisify(execFile);

interface Cruise {
  summary: { violations: { rule: { name: string }; from: string; to: string }[] };
  modules: { source: string; dependencies: { resolved: string }[] }[];
}

async function cruise(dir: string): Promise<Cruise> {
  const bin = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  // exit code 1 means "violations found": the JSON on stdout says which
  const out = await run(process.execPath, [bin, ...PRODUCT, '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { cwd: dir, maxBuffer: 256 << 20 }).catch(
    (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
  );
  return JSON.parse(out.stdout) as Cruise;
}

/** contracts/'s composition files: the store's ports and the services' context name every folder's types. */
const COMPOSITION = new Set(['contracts/context.ts', 'contracts/store.ts', 'contracts/index.ts']);

/** A folder's unit: contracts/, server/ and enclave/ by subfolder (their root files each on their own), others whole. */
function unitOf(path: string): string | null {
  if (COMPOSITION.has(path)) return null;
  const m = /^(contracts|server|enclave|client-sdk)\/([^/]+)(\/)?/.exec(path);
  if (m) return m[3] ? `${m[1]}/${m[2]}` : path;
  const top = /^([^/]+)\//.exec(path)?.[1];
  return top && PRODUCT.includes(top) ? top : null;
}

/** Strongly connected groups of more than one unit (Tarjan). */
function folderCycles(c: Cruise): string[][] {
  const g = new Map<string, Set<string>>();
  for (const m of c.modules) {
    const a = unitOf(m.source);
    if (!a) continue;
    for (const d of m.dependencies) {
      const b = unitOf(d.resolved);
      if (b && b !== a) (g.get(a) ?? g.set(a, new Set()).get(a)!).add(b);
    }
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w);
        comp.push(w);
        if (w === v) break;
      }
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('architecture: folders say where code runs', function () {
  this.timeout(120_000);
  let tree: Cruise;
  before(async () => {
    tree = await cruise(root);
  });

  it('the dependency rules pass on the tree', () => {
    expect(tree.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).to.deep.equal([]);
    expect(tree.modules.length).to.be.greaterThan(150);
  });

  it('no two folders depend on each other (contracts/, server/, enclave/ by subfolder)', () => {
    expect(folderCycles(tree)).to.deep.equal([]);
  });

  it('a forbidden import fails the rules, named by the rule it breaks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-arch-'));
    try {
      for (const f of [...PRODUCT, 'tsconfig.json', 'package.json', '.dependency-cruiser.cjs']) cpSync(join(root, f), join(dir, f), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
      appendFileSync(join(dir, 'client-sdk/sdk/buyer.ts'), "\nimport '../../enclave/keystore/keystore.js';\n");
      appendFileSync(join(dir, 'enclave/privacy/gate.ts'), "\nimport '../../server/config/config.js';\n");
      appendFileSync(join(dir, 'contracts/errors.ts'), "\nimport '../formats/manifest.js';\n");
      appendFileSync(join(dir, 'server/http/app.ts'), "\nimport '../../enclave/privacy/ledger.js';\n");
      const broken = await cruise(dir);
      const names = broken.summary.violations.map((v) => `${v.rule.name}: ${v.from}`);
      expect(names).to.include.members([
        'client-sdk-runs-on-user-machines: client-sdk/sdk/buyer.ts',
        'enclave-is-the-trust-boundary: enclave/privacy/gate.ts',
        'contracts-are-pure: contracts/errors.ts',
        'server-never-holds-keys: server/http/app.ts',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
