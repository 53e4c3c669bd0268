import type { FieldKind } from '../config/types.js';
import type { SqlDialect } from '../warehouse/warehouse.js';

/**
 * When two values of a field count as "the same", for confidence and consistency:
 * equal after normalisation (case, spacing and accents ignored; for names, punctuation too), or — for names — one an abbreviation of the other ("J. Smith", "John S.", "John Smith").
 */
export function normalise(d: SqlDialect, kind: FieldKind, expr: string): string {
  switch (kind) {
    case 'name':
      // Letters and digits of any script survive; everything else separates words.
      return `NULLIF(${d.trim(d.regexReplace(`lower(${d.stripAccents(expr)})`, '[^\\p{L}\\p{N}]+', ' '))}, '')`;
    case 'email':
      return `NULLIF(lower(${d.trim(expr)}), '')`;
    default:
      return `NULLIF(lower(${d.trim(d.regexReplace(d.stripAccents(expr), '\\s+', ' '))}), '')`;
  }
}

/** Boolean SQL over two normalised values. */
export function compatible(d: SqlDialect, kind: FieldKind, a: string, b: string): string {
  return kind === 'name' ? `(${a} = ${b} OR coalesce(${d.namesCompatible(a, b)}, FALSE))` : `(${a} = ${b})`;
}
