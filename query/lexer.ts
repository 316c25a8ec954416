/**
 * A character-level scan of the query text for the two things the parser silently drops: comments and
 * statement separators. It tracks SQLite's quoting ('…', "…", `…`, […]) so a `--` inside a string is not a
 * comment. It does not decide what the query means — the parse tree does that.
 */
export interface TextFinding {
  kind: 'comment' | 'separator';
  offset: number;
}

export function scanQueryText(q: string): TextFinding[] {
  const found: TextFinding[] = [];
  let i = 0;
  const close: Record<string, string> = { "'": "'", '"': '"', '`': '`', '[': ']' };
  while (i < q.length) {
    const c = q[i] as string;
    if (c in close) {
      const end = close[c] as string;
      i++;
      while (i < q.length) {
        if (q[i] === end) {
          // doubled quote is an escaped quote inside the same token
          if (end !== ']' && q[i + 1] === end) {
            i += 2;
            continue;
          }
          break;
        }
        i++;
      }
      i++;
      continue;
    }
    if (c === '-' && q[i + 1] === '-') found.push({ kind: 'comment', offset: i });
    else if (c === '/' && q[i + 1] === '*') found.push({ kind: 'comment', offset: i });
    else if (c === '#') found.push({ kind: 'comment', offset: i }); // MySQL-style, which the parser also accepts
    else if (c === ';') found.push({ kind: 'separator', offset: i });
    i++;
  }
  return found;
}

/** The deepest nesting of parentheses outside quoted text (what bounds the parser's recursion). */
export function parenthesisDepth(q: string): number {
  let depth = 0;
  let most = 0;
  let quote: string | null = null;
  const close: Record<string, string> = { "'": "'", '"': '"', '`': '`', '[': ']' };
  for (const c of q) {
    if (quote) {
      // a doubled quote closes and reopens: the depth outside is the same either way
      if (c === quote) quote = null;
    } else if (c in close) quote = close[c] as string;
    else if (c === '(') most = Math.max(most, ++depth);
    else if (c === ')') depth--;
  }
  return most;
}

/** The first keyword of the text (after whitespace), upper-cased: names the statement kind in a refusal. */
export function leadingKeyword(q: string): string {
  let i = 0;
  while (i < q.length && ' \t\r\n('.includes(q[i] as string)) i++;
  let j = i;
  while (j < q.length && isWordChar(q.charCodeAt(j))) j++;
  return q.slice(i, j).toUpperCase();
}

function isWordChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/**
 * One reading of the text: node-sql-parser reads `\'` inside a string as an escaped quote and SQLite does
 * not, so a backslash could make the two see different tokens; control, format and separator characters
 * (and lone surrogates) could do the same or hide text. Refused anywhere: `\`, those characters, and outside
 * single-quoted strings anything but printable ASCII, space, tab, CR and LF. Returns the first offender.
 */
export function unreadableCharacter(q: string): { offset: number; what: string } | null {
  const close: Record<string, string> = { "'": "'", '"': '"', '`': '`', '[': ']' };
  let open: string | null = null; // the closing quote of the quoted token we are in
  for (let i = 0; i < q.length; i++) {
    const ch = q[i] as string;
    const c = q.charCodeAt(i);
    if (c === 0x5c) return { offset: i, what: 'a backslash' };
    if (open === null) {
      if (ch in close) open = close[ch] as string;
      else if (c === 0x09 || c === 0x0a || c === 0x0d) continue;
      if (c < 0x20 || c > 0x7e) return { offset: i, what: `character U+${hex(c)} outside a string (only printable ASCII)` };
      continue;
    }
    if (ch === open) {
      open = null; // a doubled quote closes and reopens: still one token, and the same reading
      continue;
    }
    if (open !== "'") {
      if (c < 0x20 || c > 0x7e) return { offset: i, what: `character U+${hex(c)} in a quoted name (only printable ASCII)` };
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = q.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return { offset: i, what: 'a lone surrogate' };
    }
    if (UNREADABLE.test(ch)) return { offset: i, what: `character U+${hex(c)} in a string` };
  }
  return null;
}

const hex = (c: number): string => c.toString(16).toUpperCase().padStart(4, '0');

/** control (C0, DEL, C1), format (zero-width, bidi, BOM) and line/paragraph separators */
const UNREADABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
