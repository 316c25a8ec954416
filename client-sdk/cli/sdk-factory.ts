import { sm2PrivateKeyFromPem } from '../../crypto/index.js';
import { DomainError } from '../../contracts/errors.js';
import { BuyerClient } from '../sdk/buyer.js';
import { OperatorClient } from '../sdk/operator.js';
import { OwnerClient } from '../sdk/owner.js';
import { ReviewerClient } from '../sdk/reviewer.js';
import { type CommonOptions, readTextFile } from './common.js';
import { type Connection, resolveConnection, updateProfile } from './profiles.js';

export const connection = (opts: CommonOptions): Connection => resolveConnection(opts.profile);

/** Role clients for a CLI invocation, built from the resolved profile/env connection. */

export const ownerClient = (opts: CommonOptions): OwnerClient => new OwnerClient(connection(opts));
export const operatorClient = (opts: CommonOptions): OperatorClient => new OperatorClient(connection(opts));
export const reviewerClient = (opts: CommonOptions): ReviewerClient => new ReviewerClient(connection(opts));

/**
 * A buyer client that pins the enclave key in the profile: the first contact stores it, later runs
 * reuse the stored one, so a server that swaps its key cannot make a forged receipt pass.
 */
export async function buyerClient(opts: CommonOptions): Promise<{ buyer: BuyerClient; conn: Connection }> {
  const conn = connection(opts);
  const buyer = new BuyerClient({ url: conn.url, token: conn.token, pinned: conn.profile?.enclave });
  if (!conn.profile?.enclave) {
    const pin = await buyer.pinEnclave();
    updateProfile(conn.name, { enclave: pin });
  }
  return { buyer, conn };
}

/** The user's SM2 private key: --key FILE, else the profile's keyFile. */
export function privateKey(opts: CommonOptions & { key?: string }): Uint8Array {
  const file = opts.key ?? connectionOrUndefined(opts)?.profile?.keyFile;
  if (!file) throw new DomainError('bad-input-file', 'this command signs with your SM2 key: pass --key PRIVATE.pem (or log in with --key)');
  try {
    return sm2PrivateKeyFromPem(readTextFile(file, 'private key'));
  } catch (e) {
    if ((e as Error).name === 'UsageError') throw e;
    throw new DomainError('bad-input-file', `${file} is not an SM2 private key PEM: ${(e as Error).message}`);
  }
}

/**
 * The key for a command only one role may run (approving, certifying): without one, a person in another role
 * is told the command is not theirs, rather than asked for a key they could never use.
 */
export async function signingKeyFor(opts: CommonOptions & { key?: string }, role: 'reviewer' | 'operator', doing: string): Promise<Uint8Array> {
  try {
    return privateKey(opts);
  } catch (e) {
    if (opts.key) throw e;
    const me = await new OperatorClient(connection(opts)).me();
    if (me.user.role !== role) {
      throw new DomainError('forbidden', `only ${role === 'operator' ? 'an operator' : 'a reviewer'} can ${doing}; this profile signs in as ${me.user.name} (${me.user.role})`);
    }
    throw e;
  }
}

function connectionOrUndefined(opts: CommonOptions): Connection | undefined {
  try {
    return connection(opts);
  } catch {
    return undefined;
  }
}
