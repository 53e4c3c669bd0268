import { blockingKeyExpr, matchWeight } from './comparison.js';
import { count, normColumn, runAll, WORK, type IntegrationRun } from './integration-run.js';

/**
 * Links and merges, set-based. Records sit in clusters (`_ir_assign.cid`); clusters numbered up to `frozen` are the
 * entities of earlier runs: they never merge with each other (their ids must not change), but they take in new
 * records. Everything else is open.
 *
 * A round: every pair of clusters joined by an edge is a candidate; it is valid when the two hold no record of the
 * same source, no cannot-link separates them, and — for fuzzy (weak) edges — every record of one scores at least the
 * threshold against every record of the other (so A–B–C cannot chain through weak links). Each cluster picks its
 * best valid partner (deterministic before fuzzy, then weight, then the smaller id) and mutual choices merge. Rounds
 * repeat until nothing merges; the best remaining pair is always mutual, so each round makes progress.
 */
export const ASSIGN = '_ir_assign';
export const EDGES = '_ir_edges';
const MAX_ROUNDS = 100;
/** Deterministic links outrank any fuzzy weight; earlier rules outrank later ones. */
export const STRONG_WEIGHT = 1e9;

export async function replaceTemp(run: IntegrationRun, name: string, select: string): Promise<void> {
  await runAll(run, [`CREATE TEMP TABLE ${name}__next AS ${select}`, `DROP TABLE ${name}`, `ALTER TABLE ${name}__next RENAME TO ${name}`]);
}

/** Records with their cluster, for edge building: `open` records are the ones matching may still move. */
async function snapshotClusters(run: IntegrationRun, frozen: number): Promise<void> {
  await runAll(run, [`DROP TABLE IF EXISTS _ir_all`, `CREATE TEMP TABLE _ir_all AS SELECT r.*, a.cid, a.cid > ${frozen} AS open FROM ${WORK.records} r JOIN ${ASSIGN} a USING (_rec)`]);
}

/** Edges from the deterministic field rules and fuzzy blocking, for pairs with at least one open record. */
export async function buildEdges(run: IntegrationRun, frozen: number): Promise<void> {
  const { d, plan } = run;
  const n = (alias: string, field: string): string => `${alias}.${d.quoteIdent(normColumn(field))}`;
  await snapshotClusters(run, frozen);
  // Both-open pairs would appear twice (once from each side); keep the one seen from the smaller record.
  const pairing = `x._src <> y._src AND x.cid <> y.cid`;
  const once = `x.open AND (NOT y.open OR x._rec < y._rec)`;
  for (const [i, fields] of plan.match.deterministic.entries()) {
    await run.tx.execute(`INSERT INTO ${EDGES}
      SELECT least(x._rec, y._rec), greatest(x._rec, y._rec), ${STRONG_WEIGHT - i}, TRUE, ${d.literal(fields.join('+'))}
      FROM _ir_all x JOIN _ir_all y ON ${fields.map((f) => `${n('x', f)} = ${n('y', f)}`).join(' AND ')} AND ${pairing}
      WHERE ${once} AND ${fields.map((f) => `${n('x', f)} IS NOT NULL`).join(' AND ')}`);
  }
  const fuzzy = plan.match.fuzzy;
  if (!fuzzy) return;
  const blocks = fuzzy.blocking.map((keys) => {
    const keyed = `SELECT _rec, _src, cid, open, ${keys.map((k, i) => `${blockingKeyExpr(d, k)} AS k${i}`).join(', ')} FROM _ir_all`;
    return `SELECT least(x._rec, y._rec) AS a, greatest(x._rec, y._rec) AS b
      FROM (${keyed}) x JOIN (${keyed}) y ON ${keys.map((_, i) => `x.k${i} = y.k${i}`).join(' AND ')} AND ${pairing}
      WHERE ${once} AND ${keys.map((_, i) => `x.k${i} IS NOT NULL`).join(' AND ')}`;
  });
  await runAll(run, [
    `CREATE TEMP TABLE _ir_pairs AS SELECT DISTINCT a, b FROM (${blocks.join('\nUNION ALL\n')}) blocked`,
    `INSERT INTO ${EDGES} SELECT a, b, w, FALSE, 'fuzzy' FROM (
       SELECT p.a, p.b, ${matchWeight(d, fuzzy, 'x', 'y')} AS w FROM _ir_pairs p JOIN ${WORK.records} x ON x._rec = p.a JOIN ${WORK.records} y ON y._rec = p.b
     ) scored WHERE w >= ${fuzzy.threshold}`,
    `DROP TABLE _ir_pairs`,
  ]);
}

/** Merges clusters over the edges in rounds of mutual best choices; returns how many merges happened. */
export async function mergeRounds(run: IntegrationRun, frozen: number): Promise<number> {
  const { d, plan } = run;
  const fuzzy = plan.match.fuzzy;
  let merges = 0;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    await run.tx.execute(`CREATE TEMP TABLE _ir_cp AS
      SELECT least(x.cid, y.cid) AS c1, greatest(x.cid, y.cid) AS c2, max(e.w) AS w, bool_or(e.strong) AS strong, ${d.argMax('e.rule', ['e.w'])} AS rule
      FROM ${EDGES} e JOIN ${ASSIGN} x ON x._rec = e.a JOIN ${ASSIGN} y ON y._rec = e.b
      WHERE x.cid <> y.cid AND greatest(x.cid, y.cid) > ${frozen}
      GROUP BY least(x.cid, y.cid), greatest(x.cid, y.cid)`);
    if ((await count(run, `SELECT count(*) FROM _ir_cp`)) === 0) {
      await run.tx.execute(`DROP TABLE _ir_cp`);
      break;
    }
    await runAll(run, [
      `CREATE TEMP TABLE _ir_cm AS SELECT a.cid, bit_or(CAST(1 AS BIGINT) << a._src) AS mask, count(*) AS size FROM ${ASSIGN} a
         WHERE a.cid IN (SELECT c1 FROM _ir_cp UNION SELECT c2 FROM _ir_cp) GROUP BY a.cid`,
      `CREATE TEMP TABLE _ir_forbidden AS SELECT DISTINCT least(x.cid, y.cid) AS c1, greatest(x.cid, y.cid) AS c2
         FROM _ir_cannot c JOIN ${ASSIGN} x ON x._rec = c.a JOIN ${ASSIGN} y ON y._rec = c.b`,
      `CREATE TEMP TABLE _ir_valid AS SELECT p.*, m1.size AS s1, m2.size AS s2
         FROM _ir_cp p JOIN _ir_cm m1 ON m1.cid = p.c1 JOIN _ir_cm m2 ON m2.cid = p.c2
         WHERE (m1.mask & m2.mask) = 0 AND NOT EXISTS (SELECT 1 FROM _ir_forbidden f WHERE f.c1 = p.c1 AND f.c2 = p.c2)`,
    ]);
    if (fuzzy) {
      // Complete linkage for weak merges of clusters that already hold several records.
      await runAll(run, [
        `CREATE TEMP TABLE _ir_weak AS SELECT v.c1, v.c2, min(${matchWeight(d, fuzzy, 'rx', 'ry')}) AS minw
           FROM _ir_valid v JOIN ${ASSIGN} x ON x.cid = v.c1 JOIN ${ASSIGN} y ON y.cid = v.c2
           JOIN ${WORK.records} rx ON rx._rec = x._rec JOIN ${WORK.records} ry ON ry._rec = y._rec
           WHERE NOT v.strong AND (v.s1 > 1 OR v.s2 > 1) GROUP BY v.c1, v.c2`,
        `DELETE FROM _ir_valid WHERE EXISTS (SELECT 1 FROM _ir_weak w WHERE w.c1 = _ir_valid.c1 AND w.c2 = _ir_valid.c2 AND w.minw < ${fuzzy.threshold})`,
        `DROP TABLE _ir_weak`,
      ]);
    }
    await runAll(run, [
      `CREATE TEMP TABLE _ir_best AS SELECT c, ${d.argMax('p', ['strong', 'w', '-p'])} AS p FROM (
         SELECT c1 AS c, c2 AS p, strong, w FROM _ir_valid UNION ALL SELECT c2 AS c, c1 AS p, strong, w FROM _ir_valid) sides GROUP BY c`,
      `CREATE TEMP TABLE _ir_merge AS SELECT b1.c AS into_cid, b1.p AS from_cid, v.rule, CASE WHEN v.strong THEN NULL ELSE v.w END AS w
         FROM _ir_best b1 JOIN _ir_best b2 ON b1.p = b2.c AND b2.p = b1.c AND b1.c < b1.p
         JOIN _ir_valid v ON v.c1 = b1.c AND v.c2 = b1.p`,
    ]);
    const merged = await count(run, `SELECT count(*) FROM _ir_merge`);
    if (merged > 0) {
      // The merged-in cluster's founder (the one record with no `how` yet) records the link that brought it in.
      await replaceTemp(run, ASSIGN, `SELECT a._rec, a._src, a._key, coalesce(m.into_cid, a.cid) AS cid, a.fresh,
          CASE WHEN m.into_cid IS NOT NULL AND a.how IS NULL THEN m.rule ELSE a.how END AS how,
          CASE WHEN m.into_cid IS NOT NULL AND a.how IS NULL THEN m.w ELSE a.weight END AS weight
        FROM ${ASSIGN} a LEFT JOIN _ir_merge m ON m.from_cid = a.cid`);
    }
    await runAll(run, ['_ir_cp', '_ir_cm', '_ir_forbidden', '_ir_valid', '_ir_best', '_ir_merge'].map((t) => `DROP TABLE ${t}`));
    merges += merged;
    if (merged === 0) break;
  }
  return merges;
}
