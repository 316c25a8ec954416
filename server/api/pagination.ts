/** Cursor pagination over UUIDv7 ids (time-ordered): fetch limit+1, the last id returned is the cursor. */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}
