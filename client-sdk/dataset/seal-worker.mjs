// Piscina worker entry for owner-side row sealing (seal-rows.ts). Worker threads do not inherit the TypeScript
// loader in every launch mode, so register tsx here, then run the typed implementation.
import { register } from 'tsx/esm/api';

register();
const impl = import('./seal-rows.ts');

export default async function (task) {
  return (await impl).sealSegment(task);
}
