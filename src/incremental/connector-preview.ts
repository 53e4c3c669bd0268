import type { HttpSourcePlan, MysqlSourcePlan } from '../config/plan.js';
import { describeUrl } from '../sources/http/http-client.js';
import { MysqlExtractor } from '../sources/mysql/mysql-extract.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { readSourceState } from './source-state.js';

/** `refinery plan` for MySQL and HTTP sources: what the next run will read, in one sentence, without changing anything. */
export async function previewConnector(warehouse: Warehouse, source: MysqlSourcePlan | HttpSourcePlan): Promise<{ source: string; kind: 'mysql' | 'http'; reads: string }> {
  const state = await readSourceState(warehouse, source.name);
  if (source.kind === 'http') {
    const url = new URL(source.url);
    for (const [k, v] of Object.entries(source.params)) url.searchParams.set(k, v);
    const paging = source.pagination.type === 'none' ? 'one request' : `${source.pagination.type} pagination`;
    if (source.load.strategy === 'full') return { source: source.name, kind: 'http', reads: `every record of GET ${describeUrl(url)} (${paging}), replacing the previous extract` };
    const watermark = state.get('watermark') ?? source.load.since;
    if (watermark !== undefined) url.searchParams.set(source.load.param as string, watermark);
    return { source: source.name, kind: 'http', reads: `records of GET ${describeUrl(url)} (${paging})${watermark === undefined ? ' (no watermark yet: everything)' : ''}; those already loaded are dropped` };
  }
  const extractor = await MysqlExtractor.open(source);
  try {
    // A missing table is named here as the run names it (source_table_missing), not read about as if it were there.
    const columns = await extractor.columns();
    if (source.load.strategy !== 'cursor') {
      const rows = (await extractor.rowCount()).toLocaleString('en-US');
      return { source: source.name, kind: 'mysql', reads: source.load.strategy === 'full' ? `a full extract of ${source.table}: ${rows} rows, replacing the previous one` : `all ${rows} rows of ${source.table}, compared by ${source.key.join(', ')} with the last snapshot to find inserts, updates and deletes` };
    }
    const cursor = source.load.cursor as string;
    const column = columns.find((c) => c.name === cursor) ?? { name: cursor, type: 'text' };
    const watermark = state.get('watermark') ?? source.load.since;
    const upTo = await extractor.maxCursor({ columns: [cursor], cursor: { column, lagMs: source.load.lagMs, ...(watermark === undefined ? {} : { from: watermark }) } });
    return { source: source.name, kind: 'mysql', reads: `rows of ${source.table} with ${cursor} from ${watermark ?? 'the beginning'}${source.load.lagMs > 0 && watermark !== undefined ? ` minus the ${Math.round(source.load.lagMs / 1000)} s lag` : ''} up to ${upTo ?? watermark ?? '(no rows)'} (those already loaded are dropped)` };
  } finally {
    await extractor.close();
  }
}
