// Piscina worker entry for HE evaluation and owner-side encryption when running the TypeScript (tests, a dev
// checkout; compiled, evaluate.ts starts dist/'s worker-impl.js itself). Worker threads do not inherit the
// TypeScript loader in every launch mode, so register tsx here, then run the typed implementation.
import { register } from 'tsx/esm/api';

register();
const impl = import('./worker-impl.ts');

export default async function (task) {
  return (await impl).run(task);
}
