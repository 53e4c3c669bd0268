import type { SqlDialect } from '../warehouse/warehouse.js';
import type { BlockingKeyPlan, ComparisonLevelPlan, FuzzyPlan } from './integration-plan.js';
import { normColumn } from './integration-run.js';

/**
 * Fuzzy matching's SQL: blocking keys (which pairs are compared at all) and comparison levels (how much a pair's
 * agreement on each field weighs). Levels are tested on normalised values, best level first; a missing value on
 * either side is no evidence either way (weight 0).
 */
export function blockingKeyExpr(d: SqlDialect, key: BlockingKeyPlan): string {
  // Evaluated over the records table itself, so `{ sql }` keys see the canonical fields by name.
  if ('sql' in key) return `(${key.sql})`;
  const n = d.quoteIdent(normColumn(key.field));
  switch (key.transform) {
    case 'last_word':
      return d.regexReplace(n, '^.* ', '');
    case 'first_word':
      return d.regexReplace(n, ' .*$', '');
    case 'initial':
      return `substr(${n}, 1, 1)`;
    case 'prefix3':
      return `substr(${n}, 1, 3)`;
    default:
      return n;
  }
}

function levelTest(d: SqlDialect, level: ComparisonLevelPlan, a: string, b: string): string {
  const t = level.test;
  if ('exact' in t) return `${a} = ${b}`;
  if ('initials' in t) return `coalesce(${d.namesCompatible(a, b)}, FALSE)`;
  if ('jaroWinkler' in t) return `${d.jaroWinkler(a, b)} >= ${t.jaroWinkler}`;
  return `${d.levenshtein(a, b)} <= ${t.levenshtein}`;
}

/** SQL for the match weight of records aliased `x` and `y`: the sum, over compared fields, of the first level that holds. */
export function matchWeight(d: SqlDialect, fuzzy: FuzzyPlan, x: string, y: string): string {
  const terms = fuzzy.compare.map((c) => {
    const a = `${x}.${d.quoteIdent(normColumn(c.field))}`;
    const b = `${y}.${d.quoteIdent(normColumn(c.field))}`;
    return `CASE WHEN ${a} IS NULL OR ${b} IS NULL THEN 0 ${c.levels.map((l) => `WHEN ${levelTest(d, l, a, b)} THEN ${l.weight}`).join(' ')} ELSE ${c.otherwise} END`;
  });
  return terms.length > 0 ? `(${terms.join(' + ')})` : '0';
}
