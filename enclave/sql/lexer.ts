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
