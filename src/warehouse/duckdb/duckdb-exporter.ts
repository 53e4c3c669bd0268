import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PartitionedWrite, SqlSession, TableExporter, WrittenPartition } from '../warehouse.js';
import type { DuckDBDialect } from './duckdb-dialect.js';

/** Hive's name for the directory of NULL values; DuckDB, Spark and pyarrow all read it back as NULL. */
const HIVE_NULL = '__HIVE_DEFAULT_PARTITION__';

/**
 * Writes Parquet with DuckDB's own partitioned COPY: one pass over the rows, one file per partition directory,
 * directory names percent-encoded the way DuckDB, Spark and pyarrow decode them.
 */
export class DuckDBExporter implements TableExporter {
  constructor(private readonly dialect: DuckDBDialect) {}

  async writePartitionedParquet(session: SqlSession, request: PartitionedWrite): Promise<WrittenPartition[]> {
    const d = this.dialect;
    const partitioned = request.partitionBy.length > 0 ? `, PARTITION_BY (${request.partitionBy.map((c) => d.quoteIdent(c)).join(', ')})` : '';
    // An unpartitioned table is one directory: write its file there, so the caller handles both the same way.
    const target = request.partitionBy.length > 0 ? request.dir : join(request.dir, 'data_0.parquet');
    if (request.partitionBy.length === 0) mkdirSync(request.dir, { recursive: true });
    await session.execute(`COPY (${request.sql}) TO ${d.literal(target)} (FORMAT parquet${partitioned})`);
    if (request.partitionBy.length === 0) return [{ directory: '', values: [] }];
    return leafDirectories(request.dir, request.partitionBy.length).map((directory) => ({
      directory,
      values: directory.split('/').map((segment) => {
        const value = segment.slice(segment.indexOf('=') + 1);
        return value === HIVE_NULL ? null : decodeURIComponent(value);
      }),
    }));
  }
}

/** Directories `depth` levels below `root`, as relative paths with `/`. */
function leafDirectories(root: string, depth: number, prefix = ''): string[] {
  const entries = readdirSync(join(root, prefix), { withFileTypes: true }).filter((e) => e.isDirectory());
  if (depth === 1) return entries.map((e) => `${prefix}${e.name}`);
  return entries.flatMap((e) => leafDirectories(root, depth - 1, `${prefix}${e.name}/`));
}
