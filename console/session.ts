/** Who is signed in (GET /v1/me), kept for the life of the page. */
import { call, tokenStore } from './api.js';

export type RoleName = 'owner' | 'buyer' | 'reviewer' | 'operator';

export interface Me {
  user: { id: string; orgId: string; name: string; role: RoleName; publicKeyPem: string | null; keyFingerprint: string | null };
  org: { id: string; name: string; region: string };
}

let me: Me | null = null;

export const currentUser = (): Me | null => me;

export async function signIn(token: string): Promise<Me> {
  const who = await call<Me>('GET', '/me', { token });
  tokenStore.set(token);
  me = who;
  return who;
}

/** Restores the session of this tab (after a reload); null when there is none or the token stopped working. */
export async function restore(): Promise<Me | null> {
  const token = tokenStore.get();
  if (!token) return null;
  try {
    me = await call<Me>('GET', '/me', { token });
    return me;
  } catch {
    tokenStore.clear();
    return null;
  }
}

export function signOut(): void {
  tokenStore.clear();
  me = null;
}
