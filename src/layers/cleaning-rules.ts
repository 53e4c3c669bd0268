import type { CleanRule } from '../config/types.js';
import type { SqlDialect } from '../warehouse/warehouse.js';

/** Wraps `expr` in the SQL of one cleaning rule. Rules only ever see and return text. */
export function applyCleanRule(d: SqlDialect, expr: string, rule: CleanRule): string {
  if (typeof rule === 'object') {
    if ('replace' in rule) return d.regexReplace(expr, rule.replace.pattern, rule.replace.with);
    // Rules hand text to the next rule: whatever the expression returns becomes text.
    return `CAST(${d.bind(expr, 'value', `(${rule.sql})`)} AS VARCHAR)`;
  }
  switch (rule) {
    case 'trim':
      return d.trim(expr);
    case 'lower':
      return `lower(${expr})`;
    case 'upper':
      return `upper(${expr})`;
    case 'collapse_spaces':
      return d.regexReplace(expr, '\\s+', ' ');
    case 'title_case':
      return d.titleCase(expr);
    case 'digits_only':
      return d.regexReplace(expr, '[^0-9]', '');
    case 'phone':
      // Digits only, keeping a leading + (after any white space) for international numbers.
      return `NULLIF(CASE WHEN ${d.regexFullMatch(expr, '\\s*\\+.*')} THEN '+' ELSE '' END || ${d.regexReplace(expr, '[^0-9]', '')}, '+')`;
  }
}

/** Plain-words description of a rule, for `explain` output and docs. */
export function describeCleanRule(rule: CleanRule): string {
  if (typeof rule === 'object') {
    if ('replace' in rule) return `replace /${rule.replace.pattern}/ with '${rule.replace.with}'`;
    return `apply ${rule.sql}`;
  }
  const words: Record<Exclude<CleanRule, object>, string> = {
    trim: 'trim surrounding white space',
    lower: 'lower-case',
    upper: 'upper-case',
    collapse_spaces: 'collapse runs of white space to one space',
    title_case: 'capitalise each word',
    digits_only: 'keep digits only',
    phone: 'keep digits and a leading +',
  };
  return words[rule];
}
