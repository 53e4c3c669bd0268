import { goldTable, type IntegrationRun } from './integration-run.js';

/**
 * The per-source scorecard, from the cross-reference's active records:
 * completeness = filled fields / fields the source maps; validity = valid values / filled fields; consistency =
 * values compatible with the golden value / filled fields; timeliness = age in days, at this run, of the source's
 * most recent business timestamp; quality_score = the average of completeness, validity and consistency.
 */
export async function writeSourceScorecard(run: IntegrationRun): Promise<void> {
  const { d, plan } = run;
  const xref = goldTable(run, 'xref');
  const share = (part: string, whole: string): string => `CAST(sum(${part}) AS DOUBLE) / NULLIF(sum(${whole}), 0)`;
  const sources = plan.sources.map((s) => `(${d.literal(s.name)}, ${d.literal(s.label)}, ${s.rank})`).join(', ');
  await run.tx.execute(`CREATE OR REPLACE TABLE ${goldTable(run, 'sourceQuality')} AS
    SELECT source, label, records, completeness, validity, consistency, latest_update, timeliness_days,
      (coalesce(completeness, 0) + coalesce(validity, 0) + coalesce(consistency, 0)) / 3 AS quality_score,
      ${d.timestampLiteral(run.now)} AS measured_at
    FROM (
      SELECT s.source, s.label, s.rank, count(x.source) AS records,
        ${share('x.fields_present', 'x.fields_mapped')} AS completeness,
        ${share('x.fields_valid', 'x.fields_present')} AS validity,
        ${share('x.fields_consistent', 'x.fields_present')} AS consistency,
        max(x.updated_at) AS latest_update,
        ${d.ageDays('max(x.updated_at)', run.now)} AS timeliness_days
      FROM (VALUES ${sources}) s(source, label, rank) LEFT JOIN ${xref} x ON x.source = s.source AND x.active
      GROUP BY s.source, s.label, s.rank
    ) scored ORDER BY rank`);
}
