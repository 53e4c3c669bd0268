import type { RecordRef } from './integration-plan.js';
import { count, goldTable, runAll, WORK, type IntegrationRun } from './integration-run.js';
import { ASSIGN, buildEdges, EDGES, mergeRounds, replaceTemp, STRONG_WEIGHT } from './match-rounds.js';

export interface MatchSummary {
  /** Records not in the cross-reference yet (plus records an override released). */
  readonly fresh: number;
  /** Fresh records that joined an entity of an earlier run. */
  readonly joinedExisting: number;
  /** Entities created this run. */
  readonly newEntities: number;
  /** Records an override moved out of their entity, to be matched again. */
  readonly released: number;
}

function refRows(run: IntegrationRun, kind: 'must' | 'cannot', pairs: readonly (readonly [RecordRef, RecordRef])[]): string[] {
  const l = (v: string): string => run.d.literal(v);
  return pairs.map(([a, b]) => `(${l(kind)}, ${l(a.source)}, ${l(a.key)}, ${l(b.source)}, ${l(b.key)})`);
}

/**
 * Matching, incremental through the cross-reference: records seen before keep their entity; only fresh records are
 * matched, into existing entities or into new ones. Order: overrides release the records they move; must-links;
 * the same key (fresh records join the entity holding that key, else group by key); then deterministic field rules
 * and fuzzy links, merged in rounds (see match-rounds.ts). Leaves `_ir_members` (record → master id).
 */
export async function matchRecords(run: IntegrationRun): Promise<MatchSummary> {
  const { d, plan } = run;
  const xref = goldTable(run, 'xref');
  const key = d.quoteIdent(plan.key);
  // The one join of this run's records with the cross-reference (on source and key); later stages join by record id.
  await run.tx.execute(`CREATE TEMP TABLE ${WORK.prior} AS SELECT r._rec, r._src, x.source, x.source_key, x.${key} AS master_id, x.matched_by, x.match_weight,
      x.first_run, x.changed_run, x.active, x.record_hash, x.fields_consistent
    FROM ${WORK.records} r JOIN ${xref} x ON x.source = r._source AND x.source_key = r._key`);
  await run.tx.execute(`CREATE TEMP TABLE _ir_known AS SELECT _rec, _src, master_id FROM ${WORK.prior}`);

  if (keyOnly(plan)) return matchByKeyOnly(run);

  const links = [...refRows(run, 'must', plan.match.mustLink), ...refRows(run, 'cannot', plan.match.cannotLink)];
  await run.tx.execute(`CREATE TEMP TABLE _ir_links (kind VARCHAR, a BIGINT, b BIGINT)`);
  if (links.length > 0) {
    await run.tx.execute(`INSERT INTO _ir_links SELECT l.kind, a._rec, b._rec FROM (VALUES ${links.join(', ')}) l(kind, sa, ka, sb, kb)
      JOIN ${WORK.records} a ON a._source = l.sa AND a._key = l.ka JOIN ${WORK.records} b ON b._source = l.sb AND b._key = l.kb`);
  }
  // An override the entities break releases its second record: it is matched again with the override in force.
  const released = await run.tx.execute(`DELETE FROM _ir_known WHERE _rec IN (
      SELECT l.b FROM _ir_links l JOIN _ir_known ka ON ka._rec = l.a JOIN _ir_known kb ON kb._rec = l.b
      WHERE (l.kind = 'cannot' AND ka.master_id = kb.master_id)
         OR (l.kind = 'must' AND ka.master_id <> kb.master_id
             AND NOT EXISTS (SELECT 1 FROM _ir_known o WHERE o.master_id = ka.master_id AND o._src = kb._src)))`);
  await run.tx.execute(`CREATE TEMP TABLE _ir_cannot AS SELECT a, b FROM _ir_links WHERE kind = 'cannot' UNION ALL SELECT b, a FROM _ir_links WHERE kind = 'cannot'`);

  const fresh = await count(run, `SELECT count(*) FROM ${WORK.records} r WHERE NOT EXISTS (SELECT 1 FROM _ir_known k WHERE k._rec = r._rec)`);
  if (fresh === 0) {
    await run.tx.execute(`CREATE TEMP TABLE ${WORK.members} AS SELECT _rec, master_id, FALSE AS fresh, CAST(NULL AS VARCHAR) AS how, CAST(NULL AS DOUBLE) AS weight FROM _ir_known`);
    await runAll(run, ['_ir_known', '_ir_links', '_ir_cannot'].map((t) => `DROP TABLE ${t}`));
    return { fresh: 0, joinedExisting: 0, newEntities: 0, released };
  }

  // Existing entities become clusters 1..frozen; each fresh record starts alone in a cluster above that.
  await run.tx.execute(`CREATE TEMP TABLE _ir_masters AS SELECT master_id, row_number() OVER (ORDER BY master_id) AS cid FROM (SELECT DISTINCT master_id FROM _ir_known) m`);
  const frozen = await count(run, `SELECT count(*) FROM _ir_masters`);
  await runAll(run, [
    `CREATE TEMP TABLE ${ASSIGN} AS SELECT r._rec, r._src, r._key, coalesce(m.cid, ${frozen} + r._rec) AS cid, k._rec IS NULL AS fresh,
       CAST(NULL AS VARCHAR) AS how, CAST(NULL AS DOUBLE) AS weight
     FROM ${WORK.records} r LEFT JOIN _ir_known k ON k._rec = r._rec LEFT JOIN _ir_masters m ON m.master_id = k.master_id`,
    `CREATE TEMP TABLE ${EDGES} (a BIGINT, b BIGINT, w DOUBLE, strong BOOLEAN, rule VARCHAR)`,
  ]);

  if (plan.match.mustLink.length > 0) {
    await run.tx.execute(`INSERT INTO ${EDGES} SELECT least(a, b), greatest(a, b), ${STRONG_WEIGHT * 2}, TRUE, 'must_link' FROM _ir_links WHERE kind = 'must'`);
    await mergeRounds(run, frozen);
    await run.tx.execute(`DELETE FROM ${EDGES}`);
  }
  if (plan.match.byKey) await matchByKey(run, frozen);
  if (plan.match.deterministic.length > 0 || plan.match.fuzzy) {
    await buildEdges(run, frozen);
    await mergeRounds(run, frozen);
  }
  return finishMatching(run, frozen, fresh, released);
}

/** Matching by the shared key alone (no field rules, no fuzzy rules, no overrides) needs no clusters at all. */
export function keyOnly(plan: IntegrationRun['plan']): boolean {
  const m = plan.match;
  return m.byKey && m.deterministic.length === 0 && !m.fuzzy && m.mustLink.length === 0 && m.cannotLink.length === 0;
}

/**
 * The key-only case in three set-based statements, with work proportional to the fresh records: a fresh record joins
 * the earlier entity holding its key (when that entity has no record of its source yet); the others found one new
 * entity per key, named by the key — or `<source>:<key>` of its founder when an entity already has that id.
 */
async function matchByKeyOnly(run: IntegrationRun): Promise<MatchSummary> {
  const { d, plan } = run;
  const xref = goldTable(run, 'xref');
  const key = d.quoteIdent(plan.key);
  await runAll(run, [
    `CREATE TEMP TABLE _ir_fresh AS SELECT r._rec, r._src, r._source, r._key FROM ${WORK.records} r WHERE NOT EXISTS (SELECT 1 FROM _ir_known k WHERE k._rec = r._rec)`,
    `CREATE TEMP TABLE _ir_keyhit AS SELECT f._rec, min(k.master_id) AS master_id
       FROM _ir_fresh f JOIN ${WORK.records} r ON r._key = f._key JOIN _ir_known k ON k._rec = r._rec
       WHERE NOT EXISTS (SELECT 1 FROM _ir_known o WHERE o.master_id = k.master_id AND o._src = f._src)
       GROUP BY f._rec`,
    `CREATE TEMP TABLE _ir_newkeys AS SELECT f._key, min(f._src) AS founder, ${d.argMax('f._source', ['-f._src'])} AS founder_source
       FROM _ir_fresh f WHERE NOT EXISTS (SELECT 1 FROM _ir_keyhit h WHERE h._rec = f._rec) GROUP BY f._key`,
    `CREATE TEMP TABLE ${WORK.members} AS
       SELECT _rec, master_id, FALSE AS fresh, CAST(NULL AS VARCHAR) AS how, CAST(NULL AS DOUBLE) AS weight FROM _ir_known
       UNION ALL SELECT _rec, master_id, TRUE, 'key', NULL FROM _ir_keyhit
       UNION ALL SELECT f._rec, CASE WHEN NOT EXISTS (SELECT 1 FROM ${xref} x WHERE x.${key} = n._key) THEN n._key ELSE n.founder_source || ':' || n._key END,
         TRUE, CASE WHEN f._src = n.founder THEN 'new' ELSE 'key' END, NULL
       FROM _ir_fresh f JOIN _ir_newkeys n ON n._key = f._key WHERE NOT EXISTS (SELECT 1 FROM _ir_keyhit h WHERE h._rec = f._rec)`,
  ]);
  const fresh = await count(run, `SELECT count(*) FROM _ir_fresh`);
  const joinedExisting = await count(run, `SELECT count(*) FROM _ir_keyhit`);
  const newEntities = await count(run, `SELECT count(*) FROM _ir_newkeys`);
  await runAll(run, ['_ir_known', '_ir_fresh', '_ir_keyhit', '_ir_newkeys'].map((t) => `DROP TABLE ${t}`));
  return { fresh, joinedExisting, newEntities, released: 0 };
}

/** The same key in two systems is the same entity: set-based, without pairwise edges (the common case at scale). */
async function matchByKey(run: IntegrationRun, frozen: number): Promise<void> {
  const noCannot = (rec: string): string => `NOT EXISTS (SELECT 1 FROM _ir_cannot c WHERE c.a = ${rec})`;
  await run.tx.execute(`CREATE TEMP TABLE _ir_cm AS SELECT cid, bit_or(CAST(1 AS BIGINT) << _src) AS mask, count(*) AS size FROM ${ASSIGN} GROUP BY cid`);
  if (frozen > 0) {
    // A fresh record joins the earlier entity holding its key, when that entity has no record of its source yet.
    await run.tx.execute(`CREATE TEMP TABLE _ir_keyhit AS SELECT n._rec, min(o.cid) AS cid
      FROM ${ASSIGN} n JOIN _ir_cm nm ON nm.cid = n.cid AND nm.size = 1
      JOIN ${ASSIGN} o ON o._key = n._key AND o.cid <= ${frozen}
      JOIN _ir_cm om ON om.cid = o.cid AND (om.mask & (CAST(1 AS BIGINT) << n._src)) = 0
      WHERE n.cid > ${frozen}
        AND NOT EXISTS (SELECT 1 FROM _ir_cannot c JOIN ${ASSIGN} t ON t._rec = c.b WHERE c.a = n._rec AND t.cid = o.cid)
      GROUP BY n._rec`);
    await replaceTemp(run, ASSIGN, `SELECT a._rec, a._src, a._key, coalesce(h.cid, a.cid) AS cid, a.fresh,
        CASE WHEN h.cid IS NOT NULL THEN 'key' ELSE a.how END AS how, a.weight
      FROM ${ASSIGN} a LEFT JOIN _ir_keyhit h ON h._rec = a._rec`);
    await run.tx.execute(`DROP TABLE _ir_keyhit`);
  }
  // The rest group by key; (source, key) is unique, so a group never holds two records of one source.
  await run.tx.execute(`CREATE TEMP TABLE _ir_keygroup AS SELECT a._rec, min(a.cid) OVER (PARTITION BY a._key) AS gcid
    FROM ${ASSIGN} a JOIN _ir_cm m ON m.cid = a.cid AND m.size = 1 WHERE a.cid > ${frozen} AND ${noCannot('a._rec')}`);
  await replaceTemp(run, ASSIGN, `SELECT a._rec, a._src, a._key, coalesce(g.gcid, a.cid) AS cid, a.fresh,
      CASE WHEN g.gcid IS NOT NULL AND g.gcid <> a.cid THEN 'key' ELSE a.how END AS how, a.weight
    FROM ${ASSIGN} a LEFT JOIN _ir_keygroup g ON g._rec = a._rec`);
  await runAll(run, [`DROP TABLE _ir_keygroup`, `DROP TABLE _ir_cm`]);
}

/**
 * New entities are named after their founding record (the first by source priority, then key): the shared id when
 * records matched by key. A name already taken (by an earlier entity, or a new one founded by a higher-priority
 * source) becomes `<source>:<key>`, which is unique.
 */
async function finishMatching(run: IntegrationRun, frozen: number, fresh: number, released: number): Promise<MatchSummary> {
  const { d, plan } = run;
  const xref = goldTable(run, 'xref');
  await run.tx.execute(`CREATE TEMP TABLE _ir_newids AS
    WITH founders AS (SELECT cid, min(_rec) AS rec FROM ${ASSIGN} WHERE cid > ${frozen} GROUP BY cid),
    named AS (SELECT f.cid, r._key, r._source, row_number() OVER (PARTITION BY r._key ORDER BY r._src) AS n FROM founders f JOIN ${WORK.records} r ON r._rec = f.rec)
    SELECT cid, CASE WHEN n = 1 AND NOT EXISTS (SELECT 1 FROM ${xref} x WHERE x.${d.quoteIdent(plan.key)} = named._key) THEN _key ELSE _source || ':' || _key END AS master_id
    FROM named`);
  await run.tx.execute(`CREATE TEMP TABLE ${WORK.members} AS
    SELECT a._rec, coalesce(m.master_id, n.master_id) AS master_id, a.fresh, CASE WHEN a.fresh THEN coalesce(a.how, 'new') END AS how, a.weight
    FROM ${ASSIGN} a LEFT JOIN _ir_masters m ON m.cid = a.cid LEFT JOIN _ir_newids n ON n.cid = a.cid`);
  const joinedExisting = await count(run, `SELECT count(*) FROM ${ASSIGN} WHERE fresh AND cid <= ${frozen}`);
  const newEntities = await count(run, `SELECT count(*) FROM _ir_newids`);
  await runAll(run, ['_ir_known', '_ir_links', '_ir_cannot', '_ir_masters', '_ir_newids', ASSIGN, EDGES, '_ir_all'].map((t) => `DROP TABLE IF EXISTS ${t}`));
  return { fresh, joinedExisting, newEntities, released };
}
