import { isAbsolute, relative, resolve } from 'node:path';
import { configError, type ErrorData } from '../errors.js';
import type { SqlParser } from '../warehouse/warehouse.js';
import { configIssue, type IssueContext, type KeyPath } from './config-issues.js';
import type { ContractPlan, DownstreamKey, GoldPlan, PartitionPlan, PublishPlan, SilverPlan } from './plan.js';
import type { PartitionBy, ProjectConfig, PublishConfig, SchemaContract } from './types.js';

/**
 * Schema contracts, partitions and publishing, from the project file to the plan. Kept apart from load-project.ts:
 * these options are the same for silver and gold tables (and publishing for sources too).
 */

/** Every kind of change evolves unless the project file says otherwise: nothing is lost and nothing fails by surprise. */
export const DEFAULT_CONTRACT: ContractPlan = { newColumns: 'evolve', missingColumns: 'evolve', typeChanges: 'evolve' };

/** Names Refinery gives lineage columns: a file column renamed to one of them would be taken for lineage. */
const RESERVED = ['_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_load_error', '_raw_line', '_op', '_lsn'];

/** Bronze is published by the date its rows were ingested. */
export const INGEST_DATE: PartitionPlan = { name: '_ingest_date', sql: 'CAST(_ingested_at AS DATE)' };

export function contractPlan(contract: SchemaContract | undefined): ContractPlan {
  if (contract === undefined) return DEFAULT_CONTRACT;
  if (typeof contract === 'string') return { newColumns: contract, missingColumns: contract, typeChanges: contract };
  return { ...DEFAULT_CONTRACT, ...contract };
}

export function partitionPlans(partitionBy: PartitionBy | undefined): PartitionPlan[] {
  if (partitionBy === undefined) return [];
  if (typeof partitionBy === 'string') return [{ name: partitionBy }];
  if (Array.isArray(partitionBy)) return partitionBy.map((name) => ({ name }));
  // `{ country: 'country' }` is the column itself, so columns and expressions can be mixed in one record.
  return Object.entries(partitionBy).map(([name, sql]) => (sql.trim() === name ? { name } : { name, sql }));
}

export function publishPlan(projectDir: string, publish: PublishConfig | undefined, fallback: readonly PartitionPlan[]): PublishPlan | undefined {
  if (!publish) return undefined;
  return { format: publish.format, path: publish.path, dir: resolve(projectDir, publish.path), partitionBy: publish.partitionBy === undefined ? [...fallback] : partitionPlans(publish.partitionBy) };
}

/** The change-log key under which a silver table logs a partition's values for a gold model. */
export function partitionLogKey(partition: PartitionPlan): string {
  return `partition:${partition.sql ?? partition.name}`;
}

/** Problems the shape check cannot see: renames that chain or take a lineage name, publish paths that collide. */
export function schemaConfigIssues(ctx: IssueContext, config: ProjectConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const publishers: { at: KeyPath; dir: string }[] = [];
  for (const [name, source] of Object.entries(config.sources ?? {})) {
    if (source.kind !== undefined && source.kind !== 'files') continue;
    const renamed = source.renamed ?? {};
    for (const [from, to] of Object.entries(renamed)) {
      if (RESERVED.includes(to.toLowerCase())) {
        issues.push(configIssue(ctx, ['sources', name, 'renamed', from], { code: 'config_rename_reserved', problem: `'${to}' is a name Refinery reserves for lineage`, hint: 'Rename the column to another name.' }));
      } else if (to in renamed) {
        issues.push(configIssue(ctx, ['sources', name, 'renamed', from], {
          code: 'config_rename_chain',
          problem: `'${from}' is renamed to '${to}', which is itself renamed to '${renamed[to]}'`,
          hint: `Rename straight to the final name: { ${from}: '${renamed[to]}' }.`,
        }));
      }
    }
    if (source.publish) publishers.push({ at: ['sources', name, 'publish', 'path'], dir: source.publish.path });
  }
  for (const [name, table] of Object.entries(config.silver ?? {})) {
    const columns = Object.keys(table.columns);
    for (const partition of partitionPlans(table.partitionBy)) {
      if (!partition.sql && !columns.includes(partition.name)) {
        issues.push(configIssue(ctx, ['silver', name, 'partitionBy'], {
          code: 'config_unknown_column',
          value: partition.name,
          problem: `silver.${name} has no column '${partition.name}' to partition by`,
          allowed: columns.join(', '),
          hint: `Name one of its columns, or give an expression a name: { ${partition.name}: "<SQL over its columns>" }.`,
        }));
      }
    }
    if (table.publish) publishers.push({ at: ['silver', name, 'publish', 'path'], dir: table.publish.path });
  }
  for (const [name, model] of Object.entries(config.gold ?? {})) if (model.publish) publishers.push({ at: ['gold', name, 'publish', 'path'], dir: model.publish.path });
  const project = resolve(ctx.file, '..');
  for (const [i, p] of publishers.entries()) {
    const dir = resolve(project, p.dir);
    const inside = (parent: string, child: string): boolean => {
      const rel = relative(parent, child);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    };
    if (inside(dir, project) || inside(resolve(project, '.refinery'), dir)) {
      issues.push(configIssue(ctx, p.at, {
        code: 'config_publish_path',
        problem: `'${p.dir}' would put published files over the project itself`,
        hint: "Publish into a directory of its own, e.g. 'lake/<table>'; Refinery deletes and rewrites what is in it.",
      }));
      continue;
    }
    const other = publishers.slice(0, i).find((q) => inside(resolve(project, q.dir), dir) || inside(dir, resolve(project, q.dir)));
    if (other) {
      issues.push(configIssue(ctx, p.at, {
        code: 'config_publish_path',
        problem: `'${p.dir}' overlaps '${other.dir}', published by ${other.at.slice(0, 2).join('.')}`,
        hint: 'Give each published table a directory of its own.',
      }));
    }
  }
  return issues;
}

/**
 * For each silver table, the partitions of partitioned gold models reading it that can be computed from its own
 * columns: it logs their values for the rows it touches, so the model recomputes only those partitions. A
 * partition that needs columns the table lacks is not logged, and a change to that table rebuilds the model.
 */
export async function downstreamPartitions(ctx: IssueContext, parser: SqlParser, silver: readonly SilverPlan[], gold: readonly GoldPlan[]): Promise<Map<string, DownstreamKey[]>> {
  const out = new Map<string, DownstreamKey[]>();
  const issues: ErrorData[] = [];
  for (const model of gold) {
    for (const partition of model.partitionBy) {
      for (const table of silver.filter((s) => model.reads.includes(`silver.${s.name}`))) {
        const columns = table.columns.map((c) => c.name);
        let needs: string[] = [partition.name];
        if (partition.sql) {
          const lineage = await parser.selectLineage(`SELECT ${partition.sql} AS p FROM silver.${table.name}`, new Map([[`silver.${table.name}`, columns]]));
          if ('error' in lineage) {
            issues.push(configIssue(ctx, ['gold', model.name, 'partitionBy', partition.name], {
              code: 'config_sql_invalid',
              problem: `the partition expression does not parse: ${lineage.error}`,
              allowed: 'an SQL expression over the columns of the model',
              hint: "Write an expression such as date_trunc('month', order_date).",
            }));
            break;
          }
          needs = [...new Set([...lineage.columns.flatMap((c) => c.dependencies), ...lineage.rowDependencies].map((d) => d.column))];
        }
        if (needs.every((c) => columns.includes(c))) {
          const list = out.get(table.name) ?? [];
          list.push({ name: partitionLogKey(partition), sql: partition.sql ?? `"${partition.name}"` });
          out.set(table.name, list);
        }
      }
    }
  }
  if (issues.length > 0) throw configError(issues[0] as ErrorData, issues);
  return out;
}
