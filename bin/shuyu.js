#!/usr/bin/env node
// The `shuyu` command. Runs the compiled CLI (dist/, made by `npm run build`) when it was built from the
// sources as they are now, or when there is no TypeScript loader to run the sources with (an install
// without dev dependencies); otherwise (a dev checkout) the TypeScript CLI through tsx, so an edit never
// runs stale code.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = new URL('../dist/cli/main.js', import.meta.url);

function distIsCurrent() {
  try {
    const stamp = JSON.parse(readFileSync(new URL('../dist/.build.json', import.meta.url), 'utf8'));
    return stamp.inputs.every((f) => statSync(root + f).mtimeMs <= stamp.sourcesAt);
  } catch {
    return false;
  }
}

async function tsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return null;
  }
}

const hasDist = existsSync(compiled);
const loader = hasDist && distIsCurrent() ? null : await tsx();
if (loader && existsSync(new URL('../cli/main.ts', import.meta.url))) {
  loader.register();
  await import('../cli/main.ts');
} else if (hasDist) {
  await import(compiled.href);
} else {
  process.stderr.write('shuyu: no compiled CLI in dist/ and no TypeScript loader: run `npm run build` first\n');
  process.exit(1);
}
