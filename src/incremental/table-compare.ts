import type { Warehouse } from '../warehouse/warehouse.js';

/** Lineage and bookkeeping columns: which batch and row a value came from differs between equal tables by design. */
const BOOKKEEPING = new Set(['_batch_id', '_source_file', '_source_row', '_row_hash', '_run_id', '_ingested_at']);

export interface TableComparison {
  readonly table: string;
  readonly leftRows: number;
  readonly rightRows: number;
  readonly identical: boolean;
}

/**
 * Do two warehouses hold the same rows in `table`, ignoring bookkeeping columns? Compared as an order-independent
 * fingerprint of row hashes computed in each engine, so a million rows never travel to JavaScript.
 */
export async function compareTable(table: string, left: Warehouse, right: Warehouse): Promise<TableComparison> {
  const [schema, name] = table.split('.') as [string, string];
  const columns = (await left.introspector.columns(schema, name)).map((c) => c.name).filter((c) => !BOOKKEEPING.has(c));
  const fingerprint = async (w: Warehouse): Promise<{ n: number; fp: string }> => {
    if (!(await w.introspector.tableExists(schema, name))) return { n: -1, fp: '' };
    const d = w.dialect;
    const { rows } = await w.query(`SELECT count(*) AS n, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS fp FROM (SELECT ${d.rowHash(columns.map((c) => d.quoteIdent(c)))} AS h FROM ${d.table(schema, name)}) t`);
    return { n: Number(rows[0]?.n ?? 0), fp: String(rows[0]?.fp ?? '') };
  };
  const [x, y] = [await fingerprint(left), await fingerprint(right)];
  return { table, leftRows: x.n, rightRows: y.n, identical: x.n === y.n && x.fp === y.fp };
}
