import { HttpClient, type HttpClientOptions } from './http.js';
import type { EnclaveInfo, Health, Me, RegisterKeyResponse } from './types.js';

/** What every role's client can do: who am I, is the service up, what are the enclave's public keys. */
export class ShuyuClient {
  readonly http: HttpClient;

  constructor(opts: HttpClientOptions | HttpClient) {
    this.http = opts instanceof HttpClient ? opts : new HttpClient(opts);
  }

  me(): Promise<Me> {
    return this.http.get<Me>('/me');
  }

  /** Registers the caller's SM2 public key (reviewers: the key their approvals are signed with). */
  registerKey(publicKeyPem: string): Promise<RegisterKeyResponse> {
    return this.http.put<RegisterKeyResponse>('/me/key', { publicKeyPem });
  }

  health(): Promise<Health> {
    return this.http.get<Health>('/health');
  }

  enclave(): Promise<EnclaveInfo> {
    return this.http.get<EnclaveInfo>('/enclave');
  }

  /** The enclave's receipt-signing key as served (PEM + fingerprint) — what a buyer pins. */
  async enclaveSigningKey(): Promise<{ publicKeyPem: string; fingerprint: string }> {
    const info = await this.enclave();
    const signing = (info as { signing?: { publicKeyPem?: unknown; fingerprint?: unknown } }).signing;
    if (!signing || typeof signing.publicKeyPem !== 'string' || typeof signing.fingerprint !== 'string') {
      throw new Error('GET /v1/enclave did not include signing.publicKeyPem and signing.fingerprint');
    }
    return { publicKeyPem: signing.publicKeyPem, fingerprint: signing.fingerprint };
  }
}
