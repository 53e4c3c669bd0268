import type { Warehouse } from '../warehouse/warehouse.js';

export interface LayerTable {
  readonly table: string;
  readonly layer: string;
  readonly rows: number;
}

export interface LayerSummary {
  readonly tables: readonly LayerTable[];
  /** quarantine table → reason → rows */
  readonly quarantinedByReason: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

const LAYER_ORDER = ['bronze', 'silver', 'quarantine', 'gold'];

/** What each layer holds right now: rows per table, and quarantined rows by reason. */
export async function summarizeLayers(warehouse: Warehouse): Promise<LayerSummary> {
  const d = warehouse.dialect;
  const all = (await warehouse.introspector.tables()).filter((t) => LAYER_ORDER.includes(t.schema));
  all.sort((a, b) => LAYER_ORDER.indexOf(a.schema) - LAYER_ORDER.indexOf(b.schema) || a.name.localeCompare(b.name));
  const tables: LayerTable[] = [];
  const quarantinedByReason: Record<string, Record<string, number>> = {};
  for (const t of all) {
    const { rows } = await warehouse.query(`SELECT count(*) AS n FROM ${d.table(t.schema, t.name)}`);
    tables.push({ table: `${t.schema}.${t.name}`, layer: t.schema, rows: Number(rows[0]?.n ?? 0) });
    if (t.schema === 'quarantine') {
      const { rows: reasons } = await warehouse.query(`SELECT _reason, count(*) AS n FROM ${d.table(t.schema, t.name)} GROUP BY _reason ORDER BY n DESC, _reason`);
      quarantinedByReason[`quarantine.${t.name}`] = Object.fromEntries(reasons.map((r) => [String(r._reason), Number(r.n)]));
    }
  }
  return { tables, quarantinedByReason };
}
