import { isUtf8 } from 'node:buffer';
import { HttpProblem } from './problems.js';

/**
 * A JSON body must be UTF-8 byte for byte. The JSON parser's decoder would turn an invalid sequence (a stray
 * 0xFF, an overlong form, an encoded surrogate, a truncated character) into U+FFFD and the request would go
 * on with text the client never sent; it is refused instead, as 422 naming the field it falls in, before any
 * handler runs.
 */
export function assertUtf8Body(buf: Buffer): void {
  if (isUtf8(buf)) return;
  const at = firstInvalidUtf8(buf);
  const prefix = buf.subarray(0, at).toString('utf8');
  const path = jsonPathAt(prefix);
  const message = `is not valid UTF-8 (byte 0x${buf[at]!.toString(16).toUpperCase().padStart(2, '0')} at byte offset ${at}): send the body as UTF-8`;
  throw new HttpProblem('validation-failed', `${path}: ${message}`, { errors: [{ path, message }] });
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence (RFC 3629). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    // the sequence's length and the range its second byte must fall in (no overlongs, no surrogates, ≤ U+10FFFF)
    const [n, lo, hi] =
      c >= 0xc2 && c <= 0xdf ? [2, 0x80, 0xbf]
      : c === 0xe0 ? [3, 0xa0, 0xbf]
      : c === 0xed ? [3, 0x80, 0x9f]
      : c >= 0xe1 && c <= 0xef ? [3, 0x80, 0xbf]
      : c === 0xf0 ? [4, 0x90, 0xbf]
      : c === 0xf4 ? [4, 0x80, 0x8f]
      : c >= 0xf1 && c <= 0xf3 ? [4, 0x80, 0xbf]
      : [0, 0, 0];
    if (n === 0) return i;
    for (let k = 1; k < n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n;
  }
  return b.length;
}

/**
 * The request path (`body.a.b.0`) of the JSON value the text `prefix` ends in — the field a bad byte right
 * after it belongs to. The prefix is the valid part of the body, so a small scan suffices: strings (with their
 * escapes), object keys and array indexes; anything unexpected just stops the scan where it is.
 */
export function jsonPathAt(prefix: string): string {
  type Frame = { kind: 'object'; key: string | null; expectKey: boolean } | { kind: 'array'; index: number };
  const stack: Frame[] = [];
  let inString = false;
  let isKey = false;
  let text = '';
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i]!;
    const top = stack[stack.length - 1];
    if (inString) {
      if (ch === '\\') {
        i++;
        continue;
      }
      if (ch === '"') {
        inString = false;
        if (isKey && top?.kind === 'object') top.key = text;
      } else text += ch;
      continue;
    }
    if (ch === '"') {
      inString = true;
      isKey = top?.kind === 'object' && top.expectKey;
      text = '';
    } else if (ch === '{') stack.push({ kind: 'object', key: null, expectKey: true });
    else if (ch === '[') stack.push({ kind: 'array', index: 0 });
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ':' && top?.kind === 'object') top.expectKey = false;
    else if (ch === ',' && top) {
      if (top.kind === 'object') (top.expectKey = true), (top.key = null);
      else top.index++;
    }
  }
  const parts = ['body'];
  for (const f of stack) {
    if (f.kind === 'array') parts.push(String(f.index));
    else if (f.key !== null) parts.push(/^[\w$-]*$/.test(f.key) ? f.key : JSON.stringify(f.key));
  }
  return parts.join('.');
}
