import type { DatabaseSourcePlan } from '../config/plan.js';
import type { DatabaseExtractor } from './database-extractor.js';
import { MysqlExtractor } from './mysql/mysql-extract.js';
import { PostgresExtractor } from './postgres/postgres-extract.js';

/** Connects to a database source's server: the one place that picks the engine by the source's kind. */
export function openExtractor(source: DatabaseSourcePlan): Promise<DatabaseExtractor> {
  switch (source.kind) {
    case 'postgres':
      return PostgresExtractor.open(source);
    case 'mysql':
      return MysqlExtractor.open(source);
  }
}
