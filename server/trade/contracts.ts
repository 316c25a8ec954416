import { createContracts, type Contracts, type DatasetRef, type BuyerRef } from '../../contracts/index.js';
import { contractsStore } from '../store/tables/contracts-store.js';
import type { Signer } from '../../contracts/signer.js';
import type { Clock } from '../../contracts/ids.js';
import type { Db } from '../store/db.js';
import type { DatasetRow } from '../datasets/datasets.js';
import type { IdentityService } from '../identity/identity.js';
import type { Principal } from '../http/route.js';

export type { Contracts };

/** contracts/ on the server's store (SQLite or PostgreSQL), with the operator key read from the identities. */
export function contractsOn(db: Db, signer: Signer, clock: Clock, identity: IdentityService, approvalMaxValidityMs?: number): Contracts {
  return createContracts({
    store: contractsStore(db),
    signer,
    clock,
    ...(approvalMaxValidityMs !== undefined ? { approvalMaxValidityMs } : {}),
    operatorPublicKeyPem: async () => (await identity.operator())?.publicKeyPem ?? undefined,
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

export async function buyerRef(p: Principal, identity: IdentityService): Promise<BuyerRef> {
  return { userId: p.userId, orgId: p.orgId, orgName: (await identity.getOrg(p.orgId))?.name ?? '' };
}
