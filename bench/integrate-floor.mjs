// The floor for bench:integrate: the multi-source template's work written by hand in DuckDB SQL for exactly these
// three sources — the same joins (by shared id), value map, rule picks, confidence, provenance with every candidate,
// cross-reference and source scorecard — with nothing general about it (no matching machinery, no incremental state).

const EMAIL = `'^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$'`;
const nn = (x) => `NULLIF(trim(regexp_replace(lower(strip_accents(${x})), '[^\\p{L}\\p{N}]+', ' ', 'g')), '')`;
const tn = (x) => `NULLIF(lower(trim(regexp_replace(strip_accents(${x}), '\\s+', ' ', 'g'))), '')`;
const words = (x) => `string_split(${x}, ' ')`;
const namesCompatible = (a, b) =>
  `(${a} = ${b} OR coalesce(list_transform([[${words(a)}, ${words(b)}]], lambda p: len(p[1]) = len(p[2]) AND list_bool_and(list_transform(p[1], lambda w, i: w = p[2][i] OR (length(w) = 1 AND starts_with(p[2][i], w)) OR (length(p[2][i]) = 1 AND starts_with(w, p[2][i])))))[1], FALSE))`;
const cand = (source, value, raw, updated, compatible, chosen) => `{'source': '${source}', 'value': ${value}, 'raw': ${raw}, 'updated_at': ${updated}, 'compatible': ${compatible}, 'chosen': ${chosen}}`;
const b = (x) => `CASE WHEN ${x} THEN 1 ELSE 0 END`;

export function floorStatements(nowLiteral) {
  return [
    `CREATE SCHEMA IF NOT EXISTS floor`,
    `CREATE OR REPLACE TEMP TABLE floor_wide AS
     SELECT coalesce(c.customer_id, bl.cust_id, s.id) AS id,
       NULLIF(trim(c.name), '') AS c_name, NULLIF(trim(c.email), '') AS c_email, ${tn('trim(c.status)')} AS c_status, CAST(c.last_update AS TIMESTAMP) AS c_upd,
       NULLIF(trim(bl.customer_name), '') AS b_name, NULLIF(trim(bl.account_status), '') AS b_status_raw,
       ${tn(`CASE trim(bl.account_status) WHEN 'ACTIVE' THEN 'active' WHEN 'Act' THEN 'active' WHEN 'A' THEN 'active' WHEN 'S' THEN 'suspended' WHEN 'SUSP' THEN 'suspended' ELSE trim(bl.account_status) END`)} AS b_status,
       CAST(bl.modified AS TIMESTAMP) AS b_upd,
       NULLIF(trim(s.full_name), '') AS s_name, NULLIF(trim(s.tier), '') AS s_tier_raw, ${tn('trim(s.tier)')} AS s_tier, CAST(s.updated AS TIMESTAMP) AS s_upd,
       c.customer_id IS NOT NULL AS in_c, bl.cust_id IS NOT NULL AS in_b, s.id IS NOT NULL AS in_s
     FROM silver.crm c FULL JOIN silver.billing bl ON bl.cust_id = c.customer_id FULL JOIN silver.support s ON s.id = coalesce(c.customer_id, bl.cust_id)`,
    // The provided rules: name CRM's, else the longest (tie → billing); status the most recent (tie → billing).
    `CREATE OR REPLACE TEMP TABLE floor_picked AS SELECT *,
       CASE WHEN c_name IS NOT NULL THEN 'crm' WHEN b_name IS NOT NULL AND (s_name IS NULL OR length(b_name) >= length(s_name)) THEN 'billing' WHEN s_name IS NOT NULL THEN 'support' END AS name_src,
       CASE WHEN c_status IS NOT NULL AND (b_status IS NULL OR c_upd > b_upd) THEN 'crm' WHEN b_status IS NOT NULL THEN 'billing' END AS status_src
     FROM floor_wide`,
    `CREATE OR REPLACE TEMP TABLE floor_chosen AS SELECT *,
       CASE name_src WHEN 'crm' THEN c_name WHEN 'billing' THEN b_name ELSE s_name END AS name,
       CASE status_src WHEN 'crm' THEN c_status ELSE b_status END AS status
     FROM floor_picked`,
    `CREATE OR REPLACE TEMP TABLE floor_judged AS SELECT *,
       ${namesCompatible(nn('c_name'), nn('name'))} AS c_name_ok, ${namesCompatible(nn('b_name'), nn('name'))} AS b_name_ok, ${namesCompatible(nn('s_name'), nn('name'))} AS s_name_ok,
       c_status = status AS c_status_ok, b_status = status AS b_status_ok
     FROM floor_chosen`,
    `CREATE OR REPLACE TABLE floor.provenance AS
     SELECT CAST(id AS VARCHAR) AS customer_id, 'name' AS field, name AS value, name_src AS source,
       CASE WHEN c_name IS NOT NULL THEN 'source:crm' WHEN b_name IS NOT NULL AND s_name IS NOT NULL AND length(b_name) = length(s_name) AND ${nn('b_name')} <> ${nn('s_name')} THEN 'tie_break' WHEN name IS NOT NULL THEN 'longest' ELSE 'no_value' END AS rule,
       CAST(${b('coalesce(c_name_ok, FALSE)')} + ${b('coalesce(b_name_ok, FALSE)')} + ${b('coalesce(s_name_ok, FALSE)')} AS DOUBLE) / NULLIF(${b('c_name IS NOT NULL')} + ${b('b_name IS NOT NULL')} + ${b('s_name IS NOT NULL')}, 0) AS confidence,
       list_filter([${cand('crm', 'c_name', 'NULL', 'c_upd', 'c_name_ok', "name_src = 'crm'")}, ${cand('billing', 'b_name', 'NULL', 'b_upd', 'b_name_ok', "name_src = 'billing'")}, ${cand('support', 's_name', 'NULL', 's_upd', 's_name_ok', "name_src = 'support'")}], lambda x: x.value IS NOT NULL) AS candidates
     FROM floor_judged
     UNION ALL
     SELECT CAST(id AS VARCHAR), 'email', c_email, CASE WHEN c_email IS NOT NULL THEN 'crm' END, CASE WHEN c_email IS NOT NULL THEN 'source:crm' ELSE 'no_value' END,
       CASE WHEN c_email IS NOT NULL THEN 1.0 END, list_filter([${cand('crm', 'c_email', 'NULL', 'c_upd', 'TRUE', 'TRUE')}], lambda x: x.value IS NOT NULL)
     FROM floor_judged
     UNION ALL
     SELECT CAST(id AS VARCHAR), 'status', status, status_src,
       CASE WHEN c_status IS NOT NULL AND b_status IS NOT NULL AND c_upd = b_upd AND c_status <> b_status THEN 'source:billing' WHEN status IS NOT NULL THEN 'most_recent' ELSE 'no_value' END,
       CAST(${b('coalesce(c_status_ok, FALSE)')} + ${b('coalesce(b_status_ok, FALSE)')} AS DOUBLE) / NULLIF(${b('c_status IS NOT NULL')} + ${b('b_status IS NOT NULL')}, 0),
       list_filter([${cand('crm', 'c_status', 'NULL', 'c_upd', 'c_status_ok', "status_src = 'crm'")}, ${cand('billing', 'b_status', 'CASE WHEN b_status_raw IS DISTINCT FROM b_status THEN b_status_raw END', 'b_upd', 'b_status_ok', "status_src = 'billing'")}], lambda x: x.value IS NOT NULL)
     FROM floor_judged
     UNION ALL
     SELECT CAST(id AS VARCHAR), 'tier', coalesce(s_tier, 'standard'), CASE WHEN s_tier IS NOT NULL THEN 'support' END, CASE WHEN s_tier IS NOT NULL THEN 'source:support' ELSE 'default' END,
       CASE WHEN s_tier IS NOT NULL THEN 1.0 END, list_filter([${cand('support', 's_tier', 'CASE WHEN s_tier_raw IS DISTINCT FROM s_tier THEN s_tier_raw END', 's_upd', 'TRUE', 'TRUE')}], lambda x: x.value IS NOT NULL)
     FROM floor_judged`,
    `CREATE OR REPLACE TABLE floor.golden AS SELECT CAST(id AS VARCHAR) AS customer_id, name, c_email AS email, status, coalesce(s_tier, 'standard') AS tier,
       (coalesce(CAST(${b('coalesce(c_name_ok, FALSE)')} + ${b('coalesce(b_name_ok, FALSE)')} + ${b('coalesce(s_name_ok, FALSE)')} AS DOUBLE) / NULLIF(${b('c_name IS NOT NULL')} + ${b('b_name IS NOT NULL')} + ${b('s_name IS NOT NULL')}, 0), 0)
        + ${b('c_email IS NOT NULL')}
        + coalesce(CAST(${b('coalesce(c_status_ok, FALSE)')} + ${b('coalesce(b_status_ok, FALSE)')} AS DOUBLE) / NULLIF(${b('c_status IS NOT NULL')} + ${b('b_status IS NOT NULL')}, 0), 0)
        + ${b('s_tier IS NOT NULL')}) / 4 AS _quality
     FROM floor_judged`,
    `CREATE OR REPLACE TABLE floor.xref AS
     SELECT 'crm' AS source, CAST(id AS VARCHAR) AS source_key, CAST(id AS VARCHAR) AS customer_id, 'new' AS matched_by, c_upd AS updated_at, 3 AS fields_mapped,
       ${b('c_name IS NOT NULL')} + ${b('c_email IS NOT NULL')} + ${b('c_status IS NOT NULL')} AS fields_present,
       ${b('c_name IS NOT NULL')} + ${b(`regexp_full_match(c_email, ${EMAIL})`)} + ${b("c_status IN ('active', 'inactive', 'suspended', 'pending', 'closed')")} AS fields_valid,
       ${b('c_name_ok')} + ${b('c_email IS NOT NULL')} + ${b('c_status_ok')} AS fields_consistent
     FROM floor_judged WHERE in_c
     UNION ALL
     SELECT 'billing', CAST(id AS VARCHAR), CAST(id AS VARCHAR), CASE WHEN in_c THEN 'key' ELSE 'new' END, b_upd, 2,
       ${b('b_name IS NOT NULL')} + ${b('b_status IS NOT NULL')}, ${b('b_name IS NOT NULL')} + ${b("b_status IN ('active', 'inactive', 'suspended', 'pending', 'closed')")},
       ${b('b_name_ok')} + ${b('b_status_ok')}
     FROM floor_judged WHERE in_b
     UNION ALL
     SELECT 'support', CAST(id AS VARCHAR), CAST(id AS VARCHAR), CASE WHEN in_c OR in_b THEN 'key' ELSE 'new' END, s_upd, 2,
       ${b('s_name IS NOT NULL')} + ${b('s_tier IS NOT NULL')}, ${b('s_name IS NOT NULL')} + ${b("s_tier IN ('standard', 'premium', 'enterprise')")},
       ${b('s_name_ok')} + ${b('s_tier IS NOT NULL')}
     FROM floor_judged WHERE in_s`,
    `CREATE OR REPLACE TABLE floor.source_quality AS
     SELECT source, count(*) AS records, CAST(sum(fields_present) AS DOUBLE) / sum(fields_mapped) AS completeness,
       CAST(sum(fields_valid) AS DOUBLE) / sum(fields_present) AS validity, CAST(sum(fields_consistent) AS DOUBLE) / sum(fields_present) AS consistency,
       max(updated_at) AS latest_update, (epoch(${nowLiteral}) - epoch(max(updated_at))) / 86400.0 AS timeliness_days
     FROM floor.xref GROUP BY source`,
  ];
}

/** The golden table alone, for the ratio's lower bound: joins and rule picks, no provenance or scores. */
export function goldenOnlyStatements() {
  return [
    `CREATE SCHEMA IF NOT EXISTS floor`,
    `CREATE OR REPLACE TABLE floor.golden_only AS
     SELECT CAST(coalesce(c.customer_id, bl.cust_id, s.id) AS VARCHAR) AS customer_id,
       coalesce(NULLIF(trim(c.name), ''), CASE WHEN length(NULLIF(trim(bl.customer_name), '')) >= coalesce(length(NULLIF(trim(s.full_name), '')), -1) THEN NULLIF(trim(bl.customer_name), '') ELSE NULLIF(trim(s.full_name), '') END) AS name,
       NULLIF(trim(c.email), '') AS email,
       CASE WHEN NULLIF(trim(c.status), '') IS NOT NULL AND (NULLIF(trim(bl.account_status), '') IS NULL OR c.last_update > bl.modified) THEN lower(trim(c.status))
         ELSE lower(CASE trim(bl.account_status) WHEN 'ACTIVE' THEN 'active' WHEN 'Act' THEN 'active' WHEN 'A' THEN 'active' WHEN 'S' THEN 'suspended' WHEN 'SUSP' THEN 'suspended' ELSE trim(bl.account_status) END) END AS status,
       coalesce(lower(NULLIF(trim(s.tier), '')), 'standard') AS tier
     FROM silver.crm c FULL JOIN silver.billing bl ON bl.cust_id = c.customer_id FULL JOIN silver.support s ON s.id = coalesce(c.customer_id, bl.cust_id)`,
  ];
}
