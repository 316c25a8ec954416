import { createContracts, type Contracts, type DatasetRef, type BuyerRef } from '../../contracts/index.js';
import { sqliteContractsStore } from '../store/sqlite/contracts-store.js';
import type { Signer } from '../../contracts/signer.js';
import type { Clock } from '../../contracts/ids.js';
import type { Db } from '../store/db.js';
import type { DatasetRow } from '../datasets/datasets.js';
import type { IdentityService } from '../identity/identity.js';
import type { Principal } from '../http/route.js';

export type { Contracts };

/** contracts/ on the server's SQLite file, with the operator key read from the identities. */
export function contractsOn(db: Db, signer: Signer, clock: Clock, identity: IdentityService): Contracts {
  return createContracts({
    store: sqliteContractsStore(db),
    signer,
    clock,
    operatorPublicKeyPem: () => identity.operator()?.publicKeyPem ?? undefined,
  });
}

export const datasetRef = (d: DatasetRow): DatasetRef => ({
  id: d.id,
  ownerOrgId: d.orgId,
  commitment: d.commitment,
  schema: d.schema,
  rowCount: d.rowCount,
  privacyBudget: { epsilonBudgetTotal: d.epsilonBudgetTotal, deltaBudgetTotal: d.deltaBudgetTotal },
});

export function buyerRef(p: Principal, identity: IdentityService): BuyerRef {
  return { userId: p.userId, orgId: p.orgId, orgName: identity.getOrg(p.orgId)?.name ?? '' };
}
