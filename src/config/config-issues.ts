import type { z } from 'zod';
import type { ErrorData } from '../errors.js';
import { locateKey } from './locate-key.js';
import { UNION_FORMS, knownKeysAt } from './project-schema.js';

export type KeyPath = readonly (string | number)[];

export function formatPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out || '(top level)';
}

export function valueAt(root: unknown, path: KeyPath): unknown {
  let value = root;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value}'`;
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return String(value);
  }
}

export interface IssueContext {
  readonly file: string;
  readonly text: string;
  readonly config: unknown;
}

/** A semantic problem found after the shape checked out (unknown source, missing column, cycle, ...). */
export function configIssue(
  ctx: IssueContext,
  path: KeyPath,
  init: { code: string; problem: string; allowed?: string; hint: string; value?: unknown },
): ErrorData {
  const value = 'value' in init ? init.value : valueAt(ctx.config, path);
  const line = locateKey(ctx.text, path);
  return {
    code: init.code,
    file: ctx.file,
    ...(line === undefined ? {} : { line }),
    path: formatPath(path),
    value,
    message: `${formatPath(path)}: ${init.problem}`,
    ...(init.allowed === undefined ? {} : { allowed: init.allowed }),
    hint: init.hint,
  };
}

/** Turns zod's issues into Refinery's: where, what was there, what is allowed, what to do. */
export function fromZodIssue(ctx: IssueContext, issue: z.core.$ZodIssue): ErrorData {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const value = valueAt(ctx.config, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(path, ctx.config) ?? [];
      const keys = issue.keys;
      const suggestion = keys.map((k) => closest(k, known)).find((s) => s !== undefined);
      return configIssue(ctx, [...path, keys[0] ?? ''], {
        code: 'config_unknown_key',
        value: keys.length === 1 ? keys[0] : keys,
        problem: `unsupported key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}`,
        allowed: known.join(', '),
        hint: suggestion ? `Did you mean '${suggestion}'?` : `Remove it, or use one of the supported keys.`,
      });
    }
    case 'invalid_value':
      return configIssue(ctx, path, {
        code: 'config_invalid_value',
        problem: `${show(value)} is not allowed`,
        allowed: issue.values.map((v) => show(v)).join(', '),
        hint: `Use one of the allowed values.`,
      });
    case 'invalid_type':
      if (value === undefined) {
        return configIssue(ctx, path, {
          code: 'config_missing_key',
          problem: `is required`,
          allowed: `a ${issue.expected}`,
          hint: `Add '${String(path[path.length - 1] ?? '')}' to the project file.`,
        });
      }
      return configIssue(ctx, path, {
        code: 'config_invalid_type',
        problem: `${show(value)} is not a ${issue.expected}`,
        allowed: `a ${issue.expected}`,
        hint: `Change it to a ${issue.expected}.`,
      });
    case 'invalid_union': {
      const forms = UNION_FORMS[issue.message];
      return configIssue(ctx, path, {
        code: 'config_invalid_value',
        problem: `${show(value)} is not ${issue.message === 'unknown type' ? 'a known type' : issue.message.replace('unknown', 'a known')}`,
        ...(forms ? { allowed: forms } : {}),
        hint: 'Use one of the allowed forms; see docs/project-file.md.',
      });
    }
    case 'invalid_key':
      return configIssue(ctx, path, {
        code: 'config_invalid_name',
        value: path[path.length - 1],
        problem: `'${String(path[path.length - 1])}' is not a usable name`,
        allowed: 'letters, digits and _, not starting with a digit',
        hint: 'Rename it: names become SQL table and column names.',
      });
    case 'invalid_format':
      if (issue.format === 'url') {
        return configIssue(ctx, path, {
          code: 'config_invalid_url',
          problem: `${show(value)} is not a URL`,
          allowed: "an absolute URL, e.g. 'http://localhost:5000/api/v1/lineage'",
          hint: 'Write the whole URL, starting with http:// or https://.',
        });
      }
      if (path[path.length - 1] === 'decodingMemory') {
        return configIssue(ctx, path, {
          code: 'config_invalid_value',
          problem: `${show(value)} is not a size`,
          allowed: "a whole number and kB, MB or GB, e.g. '256MB'",
          hint: "Write it as PostgreSQL does, e.g. '512MB', or leave it out for the default '256MB'.",
        });
      }
      return configIssue(ctx, path, {
        code: 'config_invalid_name',
        problem: `${show(value)} ${issue.message}`,
        allowed: 'letters, digits and _, not starting with a digit',
        hint: 'Rename it: names become SQL table and column names.',
      });
    case 'too_small':
    case 'too_big':
      return configIssue(ctx, path, {
        code: 'config_invalid_value',
        problem: `${show(value)} ${issue.message.replace(/^Too (small|big): expected/, 'should be').replace(/^Invalid input: /, '')}`,
        hint: 'Change the value.',
      });
    default: {
      const forms = UNION_FORMS[issue.message];
      if (forms) {
        return configIssue(ctx, path, { code: 'config_invalid_value', problem: `${show(value)} is not ${issue.message.replace('unknown', 'a known')}`, allowed: forms, hint: 'Use one of the allowed forms; see docs/project-file.md.' });
      }
      return configIssue(ctx, path, { code: 'config_invalid_value', problem: `${show(value)}: ${issue.message}`, hint: 'Change the value.' });
    }
  }
}

/** The known word closest to `word` (edit distance ≤ 2), for "did you mean" hints. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}
