/**
 * Finds the line of a key path (e.g. `silver.customers.checks[2].action`) in a project file's text, so config
 * errors can say where to look. It reads just enough of the object-literal syntax (strings, brackets, commas,
 * comments) to step over array elements; when it loses its way it returns the deepest line it did find.
 */
export function locateKey(text: string, path: readonly (string | number)[]): number | undefined {
  let pos = text.search(/defineProject\s*\(/);
  if (pos < 0) pos = 0;
  let found: number | undefined;
  for (const segment of path) {
    const next = typeof segment === 'number' ? findElement(text, pos, segment) : findKey(text, pos, segment);
    if (next === undefined) break;
    pos = next;
    found = next;
  }
  return found === undefined ? undefined : lineAt(text, found);
}

export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function findKey(text: string, from: number, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`(^|[\\s{,])(['"]?)${escaped}\\2\\s*:`, 'g');
  re.lastIndex = from;
  const match = re.exec(text);
  return match ? match.index + (match[1]?.length ?? 0) : undefined;
}

/** Position of the `index`-th element of the first array literal at or after `from`. */
function findElement(text: string, from: number, index: number): number | undefined {
  let pos = text.indexOf('[', from);
  if (pos < 0) return undefined;
  pos++;
  for (let element = 0; ; element++) {
    pos = skipSpace(text, pos);
    if (pos >= text.length || text[pos] === ']') return undefined;
    if (element === index) return pos;
    const end = skipValue(text, pos);
    if (end === undefined) return undefined;
    pos = skipSpace(text, end);
    if (text[pos] !== ',') return undefined;
    pos++;
  }
}

function skipSpace(text: string, pos: number): number {
  let p = pos;
  for (;;) {
    while (p < text.length && /\s/.test(text[p] as string)) p++;
    if (text.startsWith('//', p)) p = text.indexOf('\n', p) < 0 ? text.length : text.indexOf('\n', p);
    else if (text.startsWith('/*', p)) p = text.indexOf('*/', p) < 0 ? text.length : text.indexOf('*/', p) + 2;
    else return p;
  }
}

/** Steps over one value (up to the comma or closing bracket that ends it). */
function skipValue(text: string, pos: number): number | undefined {
  let depth = 0;
  let p = pos;
  while (p < text.length) {
    const ch = text[p] as string;
    if (ch === '"' || ch === "'" || ch === '`') {
      p++;
      while (p < text.length && text[p] !== ch) p += text[p] === '\\' ? 2 : 1;
      p++;
      continue;
    }
    if (text.startsWith('//', p) || text.startsWith('/*', p)) {
      p = skipSpace(text, p);
      continue;
    }
    if (ch === '{' || ch === '[' || ch === '(') depth++;
    else if (ch === '}' || ch === ']' || ch === ')') {
      if (depth === 0) return p;
      depth--;
    } else if (ch === ',' && depth === 0) return p;
    p++;
  }
  return undefined;
}
