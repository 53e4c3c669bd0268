import { candidateSources, entityColumn as e, resolvedColumn as r } from './entity-columns.js';
import { keepsRaw } from './mapping.js';
import { goldTable, readableOrder, runAll, WORK, type IntegrationRun } from './integration-run.js';
import { RESOLVED } from './survivorship.js';

/**
 * Provenance, one row per entity and field: the value, the winning source, the rule that decided, the confidence
 * (share of the supplying sources' votes that are compatible with the value), whether it is contested (confidence
 * below 1), and every candidate with its source and business timestamp, in source priority order. A field no source
 * supplies gets its default (rule `default`) or nothing (rule `no_value`), and no confidence. Rows of the resolved
 * entities are replaced; with `all`, the table is rebuilt.
 */
export async function writeProvenance(run: IntegrationRun, all: boolean, entities: number): Promise<void> {
  const { d, plan, runId } = run;
  const table = goldTable(run, 'provenance');
  const key = d.quoteIdent(plan.key);
  const q = (n: string): string => d.quoteIdent(n);
  const candidates = (field: (typeof plan.fields)[number]): string => {
    const sources = candidateSources(plan, field);
    const none = 'CAST(NULL AS VARCHAR)';
    const record = (i: number | undefined): string =>
      d.record([
        ['source', i === undefined ? none : d.literal(plan.sources.find((s) => s.rank === i)?.name ?? '')],
        ['value', i === undefined ? none : q(e.value(i, field.name))],
        ['raw', i !== undefined && keepsRaw(plan, field) ? `CASE WHEN ${q(e.raw(i, field.name))} IS DISTINCT FROM ${q(e.value(i, field.name))} THEN ${q(e.raw(i, field.name))} END` : none],
        ['updated_at', i === undefined ? 'CAST(NULL AS TIMESTAMP)' : q(e.updated(i))],
        ['compatible', i === undefined ? 'CAST(NULL AS BOOLEAN)' : q(r.compatible(i, field.name))],
        ['chosen', i === undefined ? 'FALSE' : `coalesce(${q(r.winner(field.name))} = ${i}, FALSE)`],
      ]);
    // In priority order; a field only a default fills gets an empty list of the same type.
    return d.presentList(sources.length ? sources.map((s) => record(s.rank)) : [record(undefined)], 'value');
  };
  const perField = plan.fields.map(
    (f, position) => `SELECT master_id AS ${key}, ${d.literal(f.name)} AS field,
      ${f.default === undefined ? q(r.value(f.name)) : `coalesce(${q(r.value(f.name))}, ${d.literal(String(f.default))})`} AS value,
      ${q(r.source(f.name))} AS source, ${q(r.rule(f.name))} AS rule, ${q(r.confidence(f.name))} AS confidence,
      coalesce(${q(r.confidence(f.name))} < 1, FALSE) AS contested, ${candidates(f)} AS candidates, ${runId} AS _run_id, ${position} AS _position
      FROM ${RESOLVED}`,
  );
  const rows = `SELECT ${key}, field, value, source, rule, confidence, contested, candidates, _run_id FROM (${perField.join('\nUNION ALL\n')}) p
    ${readableOrder(entities * plan.fields.length, `${key}, _position`)}`;
  if (all) {
    await run.tx.execute(`CREATE OR REPLACE TABLE ${table} AS ${rows}`);
  } else {
    await runAll(run, [`DELETE FROM ${table} WHERE ${key} IN (SELECT master_id FROM ${WORK.affected})`, `INSERT INTO ${table} ${rows}`]);
  }
}
