import { z } from 'zod';

/** Names used for tables, columns and sources: they become SQL identifiers, so keep them plain. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const identifier = z.string().regex(IDENTIFIER, { error: 'must be a plain identifier' });

const logicalType = z.union(
  [z.enum(['text', 'integer', 'double', 'boolean', 'date', 'timestamp', 'decimal']), z.string().regex(/^decimal\(\d{1,2},\d{1,2}\)$/)],
  { error: 'unknown type' },
);

const cleanRule = z.union(
  [
    z.enum(['trim', 'lower', 'upper', 'collapse_spaces', 'title_case', 'digits_only', 'phone']),
    z.strictObject({ replace: z.strictObject({ pattern: z.string(), with: z.string() }) }),
    z.strictObject({ sql: z.string().min(1) }),
  ],
  { error: 'unknown cleaning rule' },
);

const checkRule = z.union(
  [
    z.enum(['not_null', 'parses']),
    z.strictObject({ matches: z.string().min(1) }),
    z.strictObject({ in: z.array(z.union([z.string(), z.number()])).min(1) }),
    z.strictObject({ min: z.number().optional(), max: z.number().optional() }).refine((r) => r.min !== undefined || r.max !== undefined),
    z.strictObject({ references: z.string().regex(/^silver\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/) }),
    z.strictObject({ sql: z.string().min(1) }),
  ],
  { error: 'unknown check rule' },
);

const column = z.strictObject({
  from: identifier.optional(),
  sql: z.string().min(1).optional(),
  clean: z.array(cleanRule).optional(),
  type: logicalType.optional(),
  formats: z.array(z.string().min(1)).min(1).optional(),
  keepEmpty: z.boolean().optional(),
  description: z.string().optional(),
});

const check = z.strictObject({
  name: identifier,
  column: identifier.optional(),
  rule: checkRule,
  action: z.enum(['warn', 'quarantine', 'fail']).optional(),
  description: z.string().optional(),
});

const columnList = z.union([identifier, z.array(identifier).min(1)]);

const silverTable = z.strictObject({
  from: identifier.optional(),
  columns: z.record(identifier, column),
  checks: z.array(check).optional(),
  key: columnList.optional(),
  latest: columnList.optional(),
  materialize: z.enum(['merge', 'replace']).optional(),
  description: z.string().optional(),
});

const goldModel = z.strictObject({
  sql: z.string().min(1),
  description: z.string().optional(),
});

const singleChar = z.string().length(1, { error: 'must be exactly one character' });

const source = z.strictObject({
  path: z.string().min(1),
  format: z.enum(['csv', 'jsonl', 'json', 'parquet']).optional(),
  columns: z.array(z.string().min(1)).optional(),
  csv: z
    .strictObject({
      delimiter: singleChar.optional(),
      quote: singleChar.optional(),
      escape: singleChar.optional(),
      encoding: z.enum(['utf-8', 'latin-1']).optional(),
    })
    .optional(),
  description: z.string().optional(),
});

export const projectSchema = z.strictObject({
  name: z.string().min(1),
  warehouse: z
    .strictObject({
      engine: z.enum(['duckdb']).optional(),
      path: z.string().min(1).optional(),
      threads: z.number().int().positive().optional(),
    })
    .optional(),
  sources: z.record(identifier, source),
  silver: z.record(identifier, silverTable).optional(),
  gold: z.record(identifier, goldModel).optional(),
});

/** What each union accepts, in words, for messages. */
export const UNION_FORMS: Record<string, string> = {
  'unknown cleaning rule':
    "'trim', 'lower', 'upper', 'collapse_spaces', 'title_case', 'digits_only', 'phone', { replace: { pattern, with } } or { sql: '<expression over value>' }",
  'unknown check rule': "'not_null', 'parses', { matches: '<regex>' }, { in: [...] }, { min, max }, { references: 'silver.<table>.<column>' } or { sql: '<boolean expression>' }",
  'unknown type': "'text', 'integer', 'double', 'boolean', 'date', 'timestamp', 'decimal' or 'decimal(p,s)'",
};

/** The keys an object schema at `path` accepts, for "supported keys are: ..." messages. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] | undefined {
  let schema: z.ZodType | undefined = projectSchema;
  for (const key of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(key)];
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return undefined;
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : undefined;
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let s = schema;
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}
