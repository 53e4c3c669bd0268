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

/**
 * Merges clusters over the edges in rounds of mutual best choices; returns how many merges happened. The edges carry
 * their clusters (`_ir_ec`) and clusters their source mask and size (`_ir_cl`), both updated by each round's merges
 * only, so a round costs what it merges, not the whole data set. A pair refused once is refused for good (masks only
 * grow, complete linkage only gets harder), so its edges are dropped.
 */
export async function mergeRounds(run: IntegrationRun, frozen: number): Promise<number> {
  const { d, plan } = run;
  const fuzzy = plan.match.fuzzy;
  const pair = `least(ca, cb), greatest(ca, cb)`;
  const settled = `ca = cb OR (ca <= ${frozen} AND cb <= ${frozen})`;
  // Two plain equi-joins, one at a time: with the clusters' inequality in the same query, the planner may pair every
  // record with every other first.
  await runAll(run, [
    `CREATE TEMP TABLE _ir_ea AS SELECT e.*, x.cid AS ca FROM ${EDGES} e JOIN ${ASSIGN} x ON x._rec = e.a`,
    `CREATE TEMP TABLE _ir_ec AS SELECT e.*, y.cid AS cb FROM _ir_ea e JOIN ${ASSIGN} y ON y._rec = e.b`,
    `DROP TABLE _ir_ea`,
    `DELETE FROM _ir_ec WHERE ${settled}`,
    `CREATE TEMP TABLE _ir_cl AS SELECT a.cid, bit_or(CAST(1 AS BIGINT) << a._src) AS mask, count(*) AS size FROM ${ASSIGN} a
       WHERE a.cid IN (SELECT ca FROM _ir_ec UNION SELECT cb FROM _ir_ec) GROUP BY a.cid`,
  ]);
  let merges = 0;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    await run.tx.execute(`CREATE TEMP TABLE _ir_cp AS
      SELECT least(ca, cb) AS c1, greatest(ca, cb) AS c2, max(w) AS w, bool_or(strong) AS strong, ${d.argMax('rule', ['w'])} AS rule
      FROM _ir_ec GROUP BY ${pair}`);
    if ((await count(run, `SELECT count(*) FROM _ir_cp`)) === 0) {
      await run.tx.execute(`DROP TABLE _ir_cp`);
      break;
    }
    await runAll(run, [
      `CREATE TEMP TABLE _ir_refused AS
         SELECT p.c1, p.c2 FROM _ir_cp p JOIN _ir_cl m1 ON m1.cid = p.c1 JOIN _ir_cl m2 ON m2.cid = p.c2 WHERE (m1.mask & m2.mask) <> 0
         UNION SELECT least(x.cid, y.cid), greatest(x.cid, y.cid) FROM _ir_cannot c JOIN ${ASSIGN} x ON x._rec = c.a JOIN ${ASSIGN} y ON y._rec = c.b`,
      `CREATE TEMP TABLE _ir_valid AS SELECT p.*, m1.size AS s1, m2.size AS s2
         FROM _ir_cp p JOIN _ir_cl m1 ON m1.cid = p.c1 JOIN _ir_cl m2 ON m2.cid = p.c2
         WHERE NOT EXISTS (SELECT 1 FROM _ir_refused f WHERE f.c1 = p.c1 AND f.c2 = p.c2)`,
    ]);
    if (fuzzy) {
      // Complete linkage for weak merges of clusters that already hold several records.
      await runAll(run, [
        `INSERT INTO _ir_refused SELECT c1, c2 FROM (
           SELECT v.c1, v.c2, min(${matchWeight(d, fuzzy, 'rx', 'ry')}) AS minw
           FROM _ir_valid v JOIN ${ASSIGN} x ON x.cid = v.c1 JOIN ${ASSIGN} y ON y.cid = v.c2
           JOIN ${WORK.records} rx ON rx._rec = x._rec JOIN ${WORK.records} ry ON ry._rec = y._rec
           WHERE NOT v.strong AND (v.s1 > 1 OR v.s2 > 1) GROUP BY v.c1, v.c2) linkage WHERE minw < ${fuzzy.threshold}`,
        `DELETE FROM _ir_valid WHERE EXISTS (SELECT 1 FROM _ir_refused f WHERE f.c1 = _ir_valid.c1 AND f.c2 = _ir_valid.c2)`,
      ]);
    }
    await runAll(run, [
      `DELETE FROM _ir_ec WHERE EXISTS (SELECT 1 FROM _ir_refused f WHERE f.c1 = least(_ir_ec.ca, _ir_ec.cb) AND f.c2 = greatest(_ir_ec.ca, _ir_ec.cb))`,
      `CREATE TEMP TABLE _ir_best AS SELECT c, ${d.argMax('p', ['strong', 'w', '-p'])} AS p FROM (
         SELECT c1 AS c, c2 AS p, strong, w FROM _ir_valid UNION ALL SELECT c2 AS c, c1 AS p, strong, w FROM _ir_valid) sides GROUP BY c`,
      `CREATE TEMP TABLE _ir_merge AS SELECT b1.c AS into_cid, b1.p AS from_cid, v.rule, CASE WHEN v.strong THEN NULL ELSE v.w END AS w
         FROM _ir_best b1 JOIN _ir_best b2 ON b1.p = b2.c AND b2.p = b1.c AND b1.c < b1.p
         JOIN _ir_valid v ON v.c1 = b1.c AND v.c2 = b1.p`,
    ]);
    const merged = await count(run, `SELECT count(*) FROM _ir_merge`);
    if (merged > 0) {
      await runAll(run, [
        // The merged-in cluster's founder (the one record with no `how` yet) records the link that brought it in.
        `UPDATE ${ASSIGN} SET cid = m.into_cid, how = coalesce(${ASSIGN}.how, m.rule), weight = CASE WHEN ${ASSIGN}.how IS NULL THEN m.w ELSE ${ASSIGN}.weight END
           FROM _ir_merge m WHERE ${ASSIGN}.cid = m.from_cid`,
        `UPDATE _ir_ec SET ca = m.into_cid FROM _ir_merge m WHERE _ir_ec.ca = m.from_cid`,
        `UPDATE _ir_ec SET cb = m.into_cid FROM _ir_merge m WHERE _ir_ec.cb = m.from_cid`,
        `DELETE FROM _ir_ec WHERE ${settled}`,
      ]);
      // Rebuilt rather than updated: DuckDB's UPDATE ... FROM is slow on a table this size.
      await replaceTemp(run, '_ir_cl', `SELECT coalesce(m.into_cid, c.cid) AS cid, bit_or(c.mask) AS mask, sum(c.size) AS size
        FROM _ir_cl c LEFT JOIN _ir_merge m ON m.from_cid = c.cid GROUP BY coalesce(m.into_cid, c.cid)`);
    }
    await runAll(run, ['_ir_cp', '_ir_refused', '_ir_valid', '_ir_best', '_ir_merge'].map((t) => `DROP TABLE ${t}`));
    merges += merged;
    if (merged === 0) break;
  }
  await runAll(run, ['_ir_ec', '_ir_cl'].map((t) => `DROP TABLE ${t}`));
  return merges;
}
