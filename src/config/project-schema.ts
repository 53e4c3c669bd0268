import { z } from 'zod';

/** Names used for tables, columns and sources: they become SQL identifiers, so keep them plain. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const identifier = z.string().regex(IDENTIFIER, { error: 'must be a plain identifier' });

const LOGICAL_TYPES = ['text', 'integer', 'double', 'boolean', 'date', 'timestamp', 'decimal'];
/** decimal(p,s): DuckDB and PostgreSQL agree on precision up to 38 digits. */
const logicalType = z.string().refine(
  (t) => {
    if (LOGICAL_TYPES.includes(t)) return true;
    const m = /^decimal\((\d{1,2}),(\d{1,2})\)$/.exec(t);
    return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 38 && Number(m[2]) <= Number(m[1]);
  },
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

const duration = z.union([z.number().nonnegative(), z.string().regex(/^\s*\d+(?:\.\d+)?\s*(ms|s|m|h|d)\s*$/)], { error: 'not a duration' });

const stepOptions = {
  after: z.array(z.string().min(1)).optional(),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(100).optional(),
      delay: duration.optional(),
      backoff: z.enum(['fixed', 'linear', 'exponential']).optional(),
      maxDelay: duration.optional(),
      jitter: z.union([z.boolean(), z.number().min(0).max(1)]).optional(),
    })
    .optional(),
  timeout: duration.optional(),
  pool: z.string().min(1).optional(),
  trigger: z.enum(['all_success', 'all_done', 'none_failed', 'one_failed']).optional(),
  tags: z.array(z.string().min(1)).optional(),
};

/** Task names may use hyphens (`fetch-rates`): they name steps, not SQL tables. */
const TASK_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

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

const contractMode = z.enum(['evolve', 'freeze', 'discard_row', 'discard_value']);
const contract = z.union(
  [contractMode, z.strictObject({ newColumns: contractMode.optional(), missingColumns: contractMode.optional(), typeChanges: contractMode.optional() })],
  { error: 'unknown contract' },
);
const partitionBy = z.union([identifier, z.array(identifier).min(1), z.record(identifier, z.string().min(1))], { error: 'unknown partitionBy' });
const publish = z.strictObject({ format: z.literal('parquet'), path: z.string().min(1), partitionBy: partitionBy.optional() });

const silverTable = z.strictObject({
  ...stepOptions,
  from: identifier.optional(),
  columns: z.record(identifier, column),
  checks: z.array(check).optional(),
  key: columnList.optional(),
  latest: columnList.optional(),
  materialize: z.enum(['merge', 'replace', 'scd2']).optional(),
  deletes: z.enum(['remove', 'soft']).optional(),
  contract: contract.optional(),
  partitionBy: partitionBy.optional(),
  publish: publish.optional(),
  description: z.string().optional(),
});

const goldModel = z.strictObject({
  ...stepOptions,
  sql: z.string().min(1),
  key: identifier.optional(),
  contract: contract.optional(),
  partitionBy: partitionBy.optional(),
  publish: publish.optional(),
  description: z.string().optional(),
});

const singleChar = z.string().length(1, { error: 'must be exactly one character' });

const fileSource = z.strictObject({
  ...stepOptions,
  kind: z.literal('files').optional(),
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
  renamed: z.record(z.string().min(1), identifier).optional(),
  publish: publish.optional(),
  description: z.string().optional(),
});

const databaseConnection = z
  .strictObject({
    urlEnv: z.string().min(1).optional(),
    url: z.string().min(1).optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
  })
  .optional();

const postgresSource = z.strictObject({
  ...stepOptions,
  kind: z.literal('postgres'),
  connection: databaseConnection,
  table: z.string().regex(/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, { error: 'must be a table name, optionally schema-qualified' }),
  columns: z.array(identifier).min(1).optional(),
  key: columnList.optional(),
  load: z
    .strictObject({
      strategy: z.enum(['full', 'cursor', 'snapshot', 'cdc']),
      cursor: identifier.optional(),
      lag: duration.optional(),
      since: z.string().min(1).optional(),
      slot: z.string().regex(/^[a-z0-9_]{1,63}$/, { error: 'must be lower-case letters, digits and _' }).optional(),
      publication: z.string().regex(/^[A-Za-z0-9_]{1,63}$/).optional(),
      decodingMemory: z.string().regex(/^[1-9][0-9]*(kB|MB|GB)$/, { error: "must be a size such as '256MB' (units kB, MB, GB)" }).optional(),
    })
    .optional(),
  description: z.string().optional(),
});

const mysqlSource = z.strictObject({
  ...stepOptions,
  kind: z.literal('mysql'),
  connection: databaseConnection,
  table: z.string().regex(/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, { error: 'must be a table name, optionally qualified by its database' }),
  columns: z.array(identifier).min(1).optional(),
  key: columnList.optional(),
  load: z
    .strictObject({
      strategy: z.enum(['full', 'cursor', 'snapshot']),
      cursor: identifier.optional(),
      lag: duration.optional(),
      since: z.string().min(1).optional(),
    })
    .optional(),
  description: z.string().optional(),
});

/** A dotted path into a JSON response, e.g. 'data.items'. */
const jsonPath = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, { error: "must be a dotted path such as 'data.items'" });
const queryParam = z.string().min(1);
const maxPages = z.number().int().min(1).optional();

const httpSource = z.strictObject({
  ...stepOptions,
  kind: z.literal('http'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  params: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).optional(),
  records: jsonPath.optional(),
  pagination: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('none') }),
      z.strictObject({ type: z.literal('page'), param: queryParam.optional(), sizeParam: queryParam.optional(), size: z.number().int().min(1).optional(), start: z.number().int().min(0).optional(), maxPages }),
      z.strictObject({ type: z.literal('offset'), param: queryParam.optional(), limitParam: queryParam.optional(), limit: z.number().int().min(1).optional(), maxPages }),
      z.strictObject({ type: z.literal('cursor'), field: jsonPath, param: queryParam.optional(), maxPages }),
      z.strictObject({ type: z.literal('link'), maxPages }),
    ], { error: 'unknown pagination' })
    .optional(),
  auth: z.strictObject({ header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'must be a header name' }).optional(), valueEnv: z.string().min(1), prefix: z.string().optional() }).optional(),
  rateLimit: z.strictObject({ perSecond: z.number().positive() }).optional(),
  request: z.strictObject({ timeout: duration.optional(), attempts: z.number().int().min(1).max(100).optional(), delay: duration.optional(), maxDelay: duration.optional() }).optional(),
  load: z.strictObject({ strategy: z.enum(['full', 'cursor']), param: queryParam.optional(), field: identifier.optional(), since: z.string().min(1).optional() }).optional(),
  description: z.string().optional(),
});

/** A source is landing files unless it names another kind; choosing by `kind` keeps errors precise (a typo'd key is named). */
const source = z.preprocess(
  (value) => (value !== null && typeof value === 'object' && !('kind' in value) ? { ...value, kind: 'files' } : value),
  z.discriminatedUnion('kind', [fileSource.extend({ kind: z.literal('files') }), postgresSource, mysqlSource, httpSource], { error: 'unknown source kind' }),
);

const ruleName = z.enum(['priority', 'most_recent', 'most_frequent', 'longest', 'max', 'min', 'first_non_null', 'most_trusted']);

const survivorshipRule = z.union(
  [
    ruleName,
    z.strictObject({ source: identifier }),
    z.strictObject({ priority: z.array(identifier).min(1) }),
    z.strictObject({ rule: ruleName, sources: z.array(identifier).min(1).optional() }),
    z.strictObject({ custom: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function'), name: identifier.optional() }),
  ],
  { error: 'unknown survivorship rule' },
);

const comparisonLevel = z.union(
  [
    z.strictObject({ exact: z.literal(true), weight: z.number() }),
    z.strictObject({ initials: z.literal(true), weight: z.number() }),
    z.strictObject({ jaroWinkler: z.number().gt(0).max(1), weight: z.number() }),
    z.strictObject({ levenshtein: z.number().int().min(1), weight: z.number() }),
  ],
  { error: 'unknown comparison level' },
);

const blockingKey = z.union([z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(:[a-z0-9_]+)?$/), z.strictObject({ sql: z.string().min(1) })], { error: 'unknown blocking key' });
const sourceRef = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*:.+$/, { error: "must be 'source:key'" });

const integration = z.strictObject({
  ...stepOptions,
  entity: identifier,
  key: identifier,
  sources: z
    .record(
      identifier,
      z.strictObject({
        table: z.string().regex(/^(silver|gold)\.[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a table named '<layer>.<table>', e.g. 'silver.crm'" }),
        key: identifier,
        updatedAt: identifier.optional(),
        fields: z.record(identifier, z.union([identifier, z.strictObject({ column: identifier.optional(), sql: z.string().min(1).optional() })])),
        values: z.record(identifier, z.record(z.string(), z.string())).optional(),
        priority: z.number().optional(),
        label: z.string().min(1).optional(),
        trust: z.number().min(0).max(1).optional(),
        trustHalfLife: duration.optional(),
      }),
    )
    .refine((s) => Object.keys(s).length > 0, { error: 'needs at least one source' }),
  match: z
    .strictObject({
      rules: z.array(z.union([identifier, z.array(identifier).min(1)])).optional(),
      fuzzy: z
        .strictObject({
          blocking: z.array(z.union([blockingKey, z.array(blockingKey).min(1)])).min(1),
          compare: z.record(identifier, z.union([z.enum(['name', 'email', 'exact']), z.strictObject({ levels: z.array(comparisonLevel).min(1), else: z.number().optional() })])),
          threshold: z.number(),
        })
        .optional(),
      mustLink: z.array(z.tuple([sourceRef, sourceRef])).optional(),
      cannotLink: z.array(z.tuple([sourceRef, sourceRef])).optional(),
    })
    .optional(),
  fields: z.record(
    identifier,
    z.strictObject({
      kind: z.enum(['text', 'name', 'email']).optional(),
      type: logicalType.optional(),
      clean: z.array(cleanRule).optional(),
      rules: z.array(survivorshipRule).min(1).optional(),
      default: z.union([z.string(), z.number(), z.boolean()]).optional(),
      valid: z
        .union([
          z.strictObject({ matches: z.string().min(1) }),
          z.strictObject({ in: z.array(z.union([z.string(), z.number()])).min(1) }),
          z.strictObject({ min: z.number().optional(), max: z.number().optional() }),
        ])
        .optional(),
      description: z.string().optional(),
    }),
  ),
  confidence: z.enum(['equal', 'trust_weighted']).optional(),
  tables: z.strictObject({ master: identifier.optional(), provenance: identifier.optional(), xref: identifier.optional(), sourceQuality: identifier.optional() }).optional(),
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
  sources: z.record(identifier, source).optional(),
  silver: z.record(identifier, silverTable).optional(),
  gold: z.record(identifier, goldModel).optional(),
  integrate: z.record(identifier, integration).optional(),
  tasks: z
    .record(
      z.string().regex(TASK_NAME, { error: 'must be a name of letters, digits, _ and -' }),
      z.strictObject({
        ...stepOptions,
        run: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', { error: 'must be a function' }),
        description: z.string().optional(),
      }),
    )
    .optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  pools: z.record(z.string().min(1), z.number().int().min(1)).optional(),
  defaults: z.strictObject({ retry: stepOptions.retry, timeout: stepOptions.timeout }).optional(),
  schedules: z
    .record(
      z.string().regex(TASK_NAME, { error: 'must be a name of letters, digits, _ and -' }),
      z
        .strictObject({
          cron: z.string().min(1).optional(),
          every: duration.optional(),
          timezone: z.string().min(1).optional(),
          select: z.array(z.string().min(1)).optional(),
          overlap: z.enum(['skip', 'queue']).optional(),
          catchUp: duration.optional(),
        })
        .refine((s) => (s.cron === undefined) !== (s.every === undefined), { error: 'needs exactly one of cron or every' }),
    )
    .optional(),
  triggers: z
    .strictObject({
      files: z.union([z.boolean(), z.strictObject({ select: z.array(z.string()).optional(), pollEvery: duration.optional() })]).optional(),
      afterPipelines: z.array(z.strictObject({ project: z.string().min(1), select: z.array(z.string()).optional() })).optional(),
      overlap: z.enum(['skip', 'queue']).optional(),
    })
    .optional(),
  alerts: z
    .strictObject({
      webhook: z.union([z.string().url(), z.strictObject({ url: z.string().url().optional(), urlEnv: z.string().min(1).optional() })]).optional(),
      command: z.string().min(1).optional(),
      freshness: z.record(z.string().regex(/^(silver|gold)\.[A-Za-z_][A-Za-z0-9_]*$/), z.strictObject({ by: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/), timezone: z.string().optional() })).optional(),
      quality: z.record(z.string().regex(/^silver\.[A-Za-z_][A-Za-z0-9_]*$/), z.strictObject({ maxQuarantinedPct: z.number().min(0).max(100) })).optional(),
    })
    .optional(),
  serve: z.strictObject({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535).optional(), tokenEnv: z.string().min(1).optional() }).optional(),
  // An http(s) URL: events are POSTed to it.
  openlineage: z.strictObject({ url: z.url({ protocol: /^https?$/ }).optional(), urlEnv: z.string().min(1).optional(), namespace: z.string().min(1).optional(), columnMetrics: z.boolean().optional() }).optional(),
});

/** What each union accepts, in words, for messages. */
export const UNION_FORMS: Record<string, string> = {
  'unknown cleaning rule':
    "'trim', 'lower', 'upper', 'collapse_spaces', 'title_case', 'digits_only', 'phone', { replace: { pattern, with } } or { sql: '<expression over value>' }",
  'unknown check rule': "'not_null', 'parses', { matches: '<regex>' }, { in: [...] }, { min, max }, { references: 'silver.<table>.<column>' } or { sql: '<boolean expression>' }",
  'unknown type': "'text', 'integer', 'double', 'boolean', 'date', 'timestamp', 'decimal' or 'decimal(p,s)' with 1 ≤ p ≤ 38 and s ≤ p",
  'unknown survivorship rule':
    "'priority', 'most_recent', 'most_frequent', 'longest', 'max', 'min', 'first_non_null', 'most_trusted', { source: '<source>' }, { priority: ['<source>', ...] }, { rule: '<rule>', sources: [...] } or { custom: (candidates) => ... }",
  'unknown comparison level': '{ exact: true, weight }, { initials: true, weight }, { jaroWinkler: 0.9, weight } or { levenshtein: 2, weight }',
  'unknown blocking key': "a field ('email'), a field and a transform ('name:last_word', 'name:first_word', 'name:initial', 'name:prefix3') or { sql: '<expression>' }",
  'unknown contract': "'evolve', 'freeze', 'discard_row', 'discard_value', or { newColumns, missingColumns, typeChanges } with one of those each",
  'unknown partitionBy': "a column ('country'), several (['country', 'status']) or named SQL expressions ({ order_month: \"date_trunc('month', order_date)\" })",
  'unknown pagination': "{ type: 'none' }, { type: 'page', param?, sizeParam?, size?, start? }, { type: 'offset', param?, limitParam?, limit? }, { type: 'cursor', field, param? } or { type: 'link' }",
  'unknown source kind': "'files' (the default), 'postgres', 'mysql' or 'http'",
  'not a duration': "a number of milliseconds, or a string such as '500ms', '30s', '15m', '2h', '1d'",
};

/**
 * The keys an object schema at `path` accepts, for "supported keys are: ..." messages. Given the project's value
 * (`root`), a discriminated union (a source's `kind`, a pagination's `type`) answers for the option the value chose.
 */
export function knownKeysAt(path: readonly PropertyKey[], root?: unknown): string[] | undefined {
  let schema: z.ZodType | undefined = projectSchema;
  let value = root;
  for (const key of path) {
    schema = unwrap(schema, value);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(key)];
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return undefined;
    value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  schema = unwrap(schema, value);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : undefined;
}

function unwrap(schema: z.ZodType | undefined, value: unknown): z.ZodType | undefined {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.out as z.ZodType;
    else if (s instanceof z.ZodDiscriminatedUnion) {
      const key = s.def.discriminator;
      const chosen = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
      const options = s.options as z.ZodType[];
      // No discriminator at all: the first option is the default (a source without `kind` is landing files).
      s = options.find((o) => o instanceof z.ZodObject && (o.shape as Record<string, z.ZodType>)[key]?.safeParse(chosen).success) ?? (chosen === undefined ? options[0] : undefined);
    } else return s;
  }
}
