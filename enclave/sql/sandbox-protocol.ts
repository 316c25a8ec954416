/** Messages between the enclave and its SQL sandbox worker (structured clone; no handles). */
export interface SandboxJob {
  columns: { name: string; type: string; bounds?: [number, number] }[];
  chunks: { wrappedKey: Uint8Array; box: Uint8Array; aad: Uint8Array }[];
  unwrapPrivateKey: Uint8Array;
  executed: string;
  /** null: do not compute per-row membership */
  membership: string | null;
  groupCount: number;
  aggregates: number;
  sqliteHeapLimitBytes: number;
}

export interface SandboxMembership {
  /** dataset row number (1-based, chunk order) of each row that passed WHERE */
  row: Int32Array;
  /** index into `rows` of the group the row falls in */
  group: Int32Array;
  /** bit j set when the row feeds aggregate call j */
  mask: Int32Array;
}

export interface SandboxStats {
  rowsLoaded: number;
  unsealMs: number;
  loadMs: number;
  queryMs: number;
  totalMs: number;
  jsHeapBytes: number;
  jsHeapPeakMallocedBytes: number;
}

export type SandboxReply =
  | { ok: true; columns: string[]; rows: (string | number | null)[][]; membership?: SandboxMembership; stats: SandboxStats }
  | { ok: false; error: { type: string; message: string } };
