import type { GoldPlan, Plan, SilverPlan, SourcePlan, StepPlan } from '../config/plan.js';
import { BRONZE_LINEAGE, CHANGE_LINEAGE } from '../layers/bronze-ingest.js';
import { describeCleanRule } from '../layers/cleaning-rules.js';
import { SILVER_LINEAGE } from '../layers/silver-sql.js';
import type { ColumnDependency, LineageKind, LineageTransformation, Warehouse } from '../warehouse/warehouse.js';

/**
 * Table and column lineage of a project, step by step: landing → bronze from the source, bronze → silver from each
 * column's plan (its raw column or SQL, its cleaning rules and type) plus the columns its checks and key read, and
 * silver/gold → gold by parsing each model's SQL. Edges name columns as `<dataset>.<column>`; an indirect edge to
 * `<dataset>.*` applies to every column of the dataset (a filter or join decides its rows, whatever the column).
 */

export type DatasetLayer = 'landing' | 'source' | 'bronze' | 'silver' | 'quarantine' | 'gold' | 'external';

export interface LineageDataset {
  /** `bronze.customers`, `gold.customer_360`; a landing zone is named by its path glob, e.g. `landing/customers/*.csv`. */
  readonly name: string;
  readonly layer: DatasetLayer;
  readonly columns: readonly string[];
}

export interface LineageEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: LineageKind;
  readonly transformation: LineageTransformation;
  /** The step that applies it. */
  readonly step: string;
  /** More in words: the cleaning rules and type, the check, the key. */
  readonly description?: string;
}

/** Which step reads and writes which tables. */
export interface TableEdge {
  readonly from: string;
  readonly to: string;
  readonly step: string;
}

export interface StepLineage {
  readonly step: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly datasets: readonly LineageDataset[];
  readonly edges: readonly LineageEdge[];
  /** Columns a model's equi-joins make equal, as `<dataset>.<column>` pairs. */
  readonly equalities: readonly (readonly [string, string])[];
  readonly warnings: readonly string[];
}

export interface LineageGraph {
  readonly datasets: readonly LineageDataset[];
  readonly edges: readonly LineageEdge[];
  readonly tables: readonly TableEdge[];
  readonly steps: readonly StepLineage[];
  readonly warnings: readonly string[];
}

/** Columns of each dataset as far as known: filled from the plan, the warehouse and the steps analysed so far. */
export type ColumnCatalog = Map<string, readonly string[]>;

const ALL = '*';
export const columnNode = (dataset: string, column: string): string => `${dataset}.${column}`;
export const everyColumn = (dataset: string): string => columnNode(dataset, ALL);

/** The lineage of the whole project, as its warehouse stands now (or as planned, for tables not built yet). */
export async function buildLineageGraph(plan: Plan, warehouse: Warehouse): Promise<LineageGraph> {
  const catalog: ColumnCatalog = new Map();
  const steps: StepLineage[] = [];
  for (const step of plan.steps) steps.push(await stepLineage(plan, warehouse, step, catalog));
  const datasets = new Map<string, LineageDataset>();
  for (const s of steps) for (const d of s.datasets) if (!datasets.has(d.name)) datasets.set(d.name, d);
  return {
    datasets: [...datasets.values()],
    edges: steps.flatMap((s) => s.edges),
    tables: steps.flatMap((s) => s.inputs.flatMap((from) => s.outputs.map((to) => ({ from, to, step: s.step })))),
    steps,
    warnings: [...new Set(steps.flatMap((s) => s.warnings))],
  };
}

/** One step's lineage. `catalog` carries the columns of datasets earlier steps produced, and is extended. */
export async function stepLineage(plan: Plan, warehouse: Warehouse, step: StepPlan, catalog: ColumnCatalog): Promise<StepLineage> {
  const empty = { step: step.name, inputs: [], outputs: [], datasets: [], edges: [], equalities: [], warnings: [] };
  switch (step.kind) {
    case 'bronze': {
      const source = plan.sources.find((s) => s.name === step.table);
      return source ? bronzeLineage(plan, warehouse, source, catalog) : empty;
    }
    case 'silver': {
      const table = plan.silver.find((s) => s.name === step.table);
      if (!table) return empty;
      // Its source may not be part of this run (`--select`): read bronze's columns from the warehouse.
      const source = plan.sources.find((s) => s.name === table.source);
      if (!catalog.has(`bronze.${table.source}`) && source) catalog.set(`bronze.${table.source}`, await bronzeColumns(plan, warehouse, source));
      return silverLineage(warehouse, table, catalog);
    }
    case 'gold': {
      const model = plan.gold.find((g) => g.name === step.table);
      return model ? goldLineage(plan, warehouse, model, catalog) : empty;
    }
    default:
      return empty;
  }
}

/** Where a source's rows come from: a landing zone (its glob), the table a database source extracts, or an API's URL. */
export function sourceDataset(source: SourcePlan): { name: string; layer: DatasetLayer } {
  const s = source as { path?: unknown; kind?: unknown; table?: unknown; url?: unknown };
  if (typeof s.path === 'string') return { name: s.path, layer: 'landing' };
  // An HTTP API is named by its URL (the project file keeps secrets out of it).
  if (typeof s.url === 'string') return { name: s.url, layer: 'source' };
  return { name: `${typeof s.kind === 'string' ? s.kind : 'source'}:${typeof s.table === 'string' ? s.table : source.name}`, layer: 'source' };
}

async function bronzeColumns(plan: Plan, warehouse: Warehouse, source: SourcePlan): Promise<string[]> {
  const lineage = new Set<string>([...BRONZE_LINEAGE, ...CHANGE_LINEAGE]);
  const live = (await warehouse.introspector.columns('bronze', source.name)).map((c) => c.name).filter((c) => !lineage.has(c));
  if (live.length > 0) return live;
  // Not ingested yet: the columns the project says it has, and those silver reads from it.
  const declared = (source as { requiredColumns?: readonly string[]; columns?: readonly string[] }).requiredColumns ?? (source as { columns?: readonly string[] }).columns ?? [];
  const read = plan.silver.filter((t) => t.source === source.name).flatMap((t) => t.columns.filter((c) => !c.sql).map((c) => c.from));
  return [...new Set([...declared, ...read])];
}

async function bronzeLineage(plan: Plan, warehouse: Warehouse, source: SourcePlan, catalog: ColumnCatalog): Promise<StepLineage> {
  const step = `bronze.${source.name}`;
  const origin = sourceDataset(source);
  const columns = await bronzeColumns(plan, warehouse, source);
  catalog.set(step, columns);
  return {
    step,
    inputs: [origin.name],
    outputs: [step],
    datasets: [{ name: origin.name, layer: origin.layer, columns }, { name: step, layer: 'bronze', columns }],
    edges: columns.map((c) => ({ from: columnNode(origin.name, c), to: columnNode(step, c), kind: 'direct', transformation: 'identity', step, description: 'as received' })),
    equalities: [],
    warnings: [],
  };
}

async function silverLineage(warehouse: Warehouse, table: SilverPlan, catalog: ColumnCatalog): Promise<StepLineage> {
  const step = `silver.${table.name}`;
  const bronze = `bronze.${table.source}`;
  const bronzeCols = catalog.get(bronze) ?? [];
  const warnings: string[] = [];
  const edges: LineageEdge[] = [];
  // What each silver column is made of, in bronze columns: also used to map checks on silver columns back to bronze.
  const sources = new Map<string, readonly ColumnDependency[]>();
  for (const column of table.columns) {
    let deps: readonly ColumnDependency[];
    if (column.sql) {
      const parsed = await warehouse.parser.selectLineage(`SELECT ${column.sql} AS v FROM ${bronze}`, new Map([[bronze, bronzeCols]]));
      if ('error' in parsed) {
        warnings.push(`${step}.${column.name}: its sql does not parse (${parsed.error})`);
        deps = [];
      } else {
        warnings.push(...parsed.warnings.map((w) => `${step}.${column.name}: ${w}`));
        deps = parsed.columns[0]?.dependencies ?? [];
      }
    } else deps = [{ table: bronze, column: column.from, kind: 'direct', transformation: 'identity' }];
    sources.set(column.name, deps);
    const rules = [...column.clean.map(describeCleanRule), ...(column.type === 'text' ? [] : [`as ${column.type}${column.formats.length ? ` (${column.formats.join(' or ')})` : ''}`])];
    const changed = rules.length > 0 || column.sql !== undefined;
    const description = [column.sql ? `sql: ${column.sql}` : undefined, ...rules].filter(Boolean).join('; ');
    for (const d of deps) {
      const transformation = d.kind === 'direct' && changed && d.transformation === 'identity' ? 'transformation' : d.transformation;
      edges.push({ from: columnNode(d.table, d.column), to: columnNode(step, column.name), kind: d.kind, transformation, step, ...(description ? { description } : {}) });
    }
  }
  const quarantine = `quarantine.${table.name}`;
  const rowEdge = (from: string, transformation: LineageTransformation, description: string): void => {
    edges.push({ from, to: everyColumn(step), kind: 'indirect', transformation, step, description });
    // What a check keeps out of silver it sends to quarantine, with its name as the reason.
    if (transformation === 'filter') {
      edges.push({ from, to: everyColumn(quarantine), kind: 'indirect', transformation, step, description });
      for (const column of ['_reason', '_detail']) edges.push({ from, to: columnNode(quarantine, column), kind: 'direct', transformation: 'transformation', step, description });
    }
  };
  // A quarantined row keeps its raw values as received.
  for (const c of bronzeCols) edges.push({ from: columnNode(bronze, c), to: columnNode(quarantine, c), kind: 'direct', transformation: 'identity', step, description: 'as received' });
  const bronzeOf = (silverColumn: string): string[] => (sources.get(silverColumn) ?? []).filter((d) => d.kind === 'direct').map((d) => columnNode(d.table, d.column));
  // Only quarantine checks decide which rows reach silver: a warning keeps the row, a failing `fail` check stops the run.
  for (const check of table.checks.filter((c) => c.action === 'quarantine')) {
    const description = `check ${check.name}`;
    const rule = check.rule;
    if (typeof rule === 'object' && 'sql' in rule) {
      const parsed = await warehouse.parser.selectLineage(`SELECT (${rule.sql}) AS ok FROM ${step}`, new Map([[step, table.columns.map((c) => c.name)]]));
      const used = 'error' in parsed ? [] : (parsed.columns[0]?.dependencies ?? []);
      for (const d of used) for (const from of d.table === step ? bronzeOf(d.column) : [columnNode(d.table, d.column)]) rowEdge(from, 'filter', description);
    }
    if (check.column) for (const from of bronzeOf(check.column)) rowEdge(from, 'filter', description);
    if (typeof rule === 'object' && 'references' in rule) rowEdge(rule.references, 'filter', description);
  }
  for (const key of table.key) for (const from of bronzeOf(key)) rowEdge(from, 'dedupe', `key ${table.key.join(' + ')}`);
  for (const latest of table.latest) for (const from of bronzeOf(latest)) rowEdge(from, 'dedupe', `latest ${table.latest.join(', ')}`);
  // Columns the schema contract passed through (not in the project file) are the bronze column of the same name.
  const declared = new Set([...table.columns.map((c) => c.name), ...SILVER_LINEAGE, 'valid_from', 'valid_to', 'is_current', '_deleted']);
  const passed = (await warehouse.introspector.columns('silver', table.name)).map((c) => c.name).filter((c) => !declared.has(c) && bronzeCols.includes(c));
  for (const c of passed) edges.push({ from: columnNode(bronze, c), to: columnNode(step, c), kind: 'direct', transformation: 'identity', step, description: 'passed through by the schema contract' });
  const columns = [...table.columns.map((c) => c.name), ...passed];
  catalog.set(step, [...columns, ...SILVER_LINEAGE]);
  return {
    step,
    inputs: [bronze, ...table.reads],
    outputs: [step, quarantine],
    datasets: [
      { name: step, layer: 'silver', columns },
      { name: quarantine, layer: 'quarantine', columns: [...bronzeCols, '_reason', '_detail'] },
    ],
    edges: dedupeEdges(edges),
    equalities: [],
    warnings,
  };
}

async function goldLineage(plan: Plan, warehouse: Warehouse, model: GoldPlan, catalog: ColumnCatalog): Promise<StepLineage> {
  const step = `gold.${model.name}`;
  const tables = new Map<string, readonly string[]>();
  for (const read of model.reads) {
    const [schema, name] = read.split('.') as [string, string];
    let columns = catalog.get(read);
    if (!columns) {
      const silver = schema === 'silver' ? plan.silver.find((s) => s.name === name) : undefined;
      columns = silver ? [...silver.columns.map((c) => c.name), ...SILVER_LINEAGE] : (await warehouse.introspector.columns(schema, name)).map((c) => c.name);
    }
    tables.set(read, columns);
  }
  const parsed = await warehouse.parser.selectLineage(model.sql, tables);
  if ('error' in parsed) {
    return { step, inputs: model.reads, outputs: [step], datasets: [{ name: step, layer: 'gold', columns: [] }], edges: [], equalities: [], warnings: [`${step}: its SQL does not parse (${parsed.error})`] };
  }
  const columns = parsed.columns.map((c) => c.name);
  catalog.set(step, columns);
  const edges: LineageEdge[] = [];
  for (const c of parsed.columns) {
    for (const d of c.dependencies) edges.push({ from: columnNode(d.table, d.column), to: columnNode(step, c.name), kind: d.kind, transformation: d.transformation, step });
  }
  for (const d of parsed.rowDependencies) edges.push({ from: columnNode(d.table, d.column), to: everyColumn(step), kind: d.kind, transformation: d.transformation, step });
  const external = [...new Set([...parsed.columns.flatMap((c) => c.dependencies), ...parsed.rowDependencies].map((d) => d.table))].filter((t) => !tables.has(t));
  return {
    step,
    inputs: model.reads,
    outputs: [step],
    datasets: [{ name: step, layer: 'gold', columns }, ...external.map((name) => ({ name, layer: 'external' as const, columns: [] }))],
    edges: dedupeEdges(edges),
    equalities: parsed.joinEqualities
      .map(([a, b]) => [columnNode(a.table, a.column), columnNode(b.table, b.column)] as const)
      .filter(([a, b]) => a !== b),
    warnings: parsed.warnings.map((w) => `${step}: ${w}`),
  };
}

function dedupeEdges(edges: readonly LineageEdge[]): LineageEdge[] {
  const seen = new Map<string, LineageEdge>();
  for (const e of edges) {
    const key = `${e.from}|${e.to}|${e.kind}|${e.transformation}`;
    const had = seen.get(key);
    if (!had) seen.set(key, e);
    else if (e.description && had.description !== e.description) {
      // Two checks on one column: keep both reasons.
      seen.set(key, { ...had, description: had.description ? `${had.description}; ${e.description}` : e.description });
    }
  }
  return [...seen.values()];
}
