// Generated sources for bench:integrate, written straight into silver tables with set-based DuckDB SQL (seeded by
// hashing, so the same --rows and --seed give the same data). Two data sets:
//   shared ids — crm, billing and support hold the same N customers under the same id, with realistic conflicts
//                (initials, upper case, other first names, status vocabularies, missing values, close dates);
//   no shared ids — P people spread over three systems under unrelated keys, names with initials, typos and upper
//                case, e-mails present or not (and sometimes mistyped); the truth is kept aside to score the matching.

const FIRST = ['James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth', 'David', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Daniel', 'Nancy', 'Matthew', 'Lisa', 'Anthony', 'Betty', 'Mark', 'Margaret', 'Donald', 'Sandra', 'Steven', 'Ashley', 'Paul', 'Kimberly', 'Andrew', 'Emily', 'Joshua', 'Donna', 'Kenneth', 'Michelle', 'Kevin', 'Dorothy', 'Brian', 'Carol', 'George', 'Amanda', 'Edward', 'Melissa', 'Ronald', 'Deborah', 'Timothy', 'Stephanie', 'Jason', 'Rebecca', 'Jeffrey', 'Sharon', 'Ryan', 'Laura', 'Jacob', 'Cynthia', 'Gary', 'Kathleen', 'Nicholas', 'Amy', 'Eric', 'Angela', 'Jonathan', 'Shirley', 'Stephen', 'Anna', 'Larry', 'Brenda', 'Justin', 'Pamela', 'Scott', 'Emma', 'Brandon', 'Nicole', 'Benjamin', 'Helen', 'Samuel', 'Samantha', 'Gregory', 'Katherine', 'Alexander', 'Christine', 'Frank', 'Debra', 'Patrick', 'Rachel', 'Raymond', 'Carolyn', 'Jack', 'Janet', 'Dennis', 'Catherine', 'Jerry', 'Maria', 'Tyler', 'Heather', 'Aaron', 'Diane', 'Jose', 'Ruth', 'Adam', 'Julie', 'Nathan', 'Olivia', 'Henry', 'Joyce', 'Douglas', 'Virginia', 'Zachary', 'Victoria', 'Peter', 'Kelly', 'Kyle', 'Lauren', 'Ethan', 'Christina', 'Walter', 'Joan', 'Noah', 'Evelyn', 'Jeremy', 'Judith', 'Christian', 'Megan', 'Keith', 'Andrea', 'Roger', 'Cheryl', 'Terry', 'Hannah', 'Gerald', 'Jacqueline', 'Harold', 'Martha', 'Sean', 'Gloria', 'Austin', 'Teresa', 'Carl', 'Ann', 'Arthur', 'Sara', 'Lawrence', 'Madison', 'Dylan', 'Frances', 'Jesse', 'Kathryn', 'Jordan', 'Janice', 'Bryan', 'Jean', 'Billy', 'Abigail', 'Joe', 'Alice', 'Bruce', 'Judy', 'Gabriel', 'Sophia', 'Logan', 'Grace', 'Albert', 'Denise', 'Willie', 'Amber', 'Alan', 'Doris', 'Juan', 'Marilyn', 'Wayne', 'Danielle', 'Elijah', 'Beverly', 'Randy', 'Isabella', 'Roy', 'Theresa', 'Vincent', 'Diana', 'Ralph', 'Natalie', 'Eugene', 'Brittany', 'Russell', 'Charlotte', 'Bobby', 'Marie', 'Mason', 'Kayla', 'Philip', 'Alexis', 'Louis', 'Lori'];
const ONSET = ['Ka', 'Lo', 'Mi', 'Ra', 'Se', 'To', 'Vu', 'Ne', 'Di', 'Fa', 'Go', 'Hu', 'Ji', 'Ba', 'Pe', 'Zo', 'Cha', 'Bri', 'Sto', 'Wel'];
const MIDDLE = ['ran', 'sen', 'mer', 'ton', 'ley', 'vic', 'dal', 'bor', 'ski', 'nez', 'lin', 'dot'];
const SECOND = ['', 'an', 'el', 'or', 'in', 'us', 'ar', 'et'];
const CODA = ['', 'a', 'o', 'er', 'is', 'son', 'ez', 'berg', 'ton', 'ard'];
const lit = (list) => `[${list.map((s) => `'${s}'`).join(', ')}]`;

/** A number in [0, 1) from the row number and a salt: the same on every run. */
const u = (i, salt, seed) => `((hash(${i}, ${seed}, '${salt}') % 1000003) / 1000003.0)`;
const pick = (list, i, salt, seed) => `${lit(list)}[1 + CAST(floor(${u(i, salt, seed)} * ${list.length}) AS INTEGER)]`;
const first = (i, seed) => pick(FIRST, i, 'first', seed);
// 19,200 family names: about as many people share one as in a real population of this size.
const last = (i, seed) => `(${pick(ONSET, i, 'on', seed)} || ${pick(MIDDLE, i, 'mid', seed)} || ${pick(SECOND, i, 'sec', seed)} || ${pick(CODA, i, 'co', seed)})`;
const day = (i, salt, seed) => `(DATE '2023-01-01' + CAST(floor(${u(i, salt, seed)} * 700) AS INTEGER))`;

/** A name as another system might hold it: mostly the same, sometimes abbreviated, shouted, or another first name. */
function variant(fullFirst, fullLast, i, salt, seed) {
  const r = u(i, salt, seed);
  return `CASE WHEN ${r} < 0.55 THEN ${fullFirst} || ' ' || ${fullLast}
    WHEN ${r} < 0.72 THEN left(${fullFirst}, 1) || '. ' || ${fullLast}
    WHEN ${r} < 0.82 THEN upper(${fullFirst} || ' ' || ${fullLast})
    WHEN ${r} < 0.90 THEN ${fullFirst} || ' ' || left(${fullLast}, 1) || '.'
    WHEN ${r} < 0.96 THEN ${fullFirst} || ' ' || ${fullLast} || 'e'
    ELSE ${pick(FIRST, i, `${salt}-other`, seed)} || ' ' || ${fullLast} END`;
}

export async function generateSharedIds(warehouse, rows, seed) {
  await warehouse.execute(`CREATE OR REPLACE TEMP TABLE bench_people AS SELECT i, ${first('i', seed)} AS f, ${last('i', seed)} AS l FROM range(1, ${rows + 1}) t(i)`);
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.crm AS SELECT i AS customer_id,
      CASE WHEN ${u('i', 'crm-name-null', seed)} < 0.04 THEN NULL ELSE f || ' ' || l END AS name,
      CASE WHEN ${u('i', 'crm-email-null', seed)} < 0.08 THEN NULL ELSE lower(f || '.' || l || i || '@example.com') END AS email,
      ${pick(['active', 'active', 'active', 'inactive', 'suspended', 'pending'], 'i', 'crm-status', seed)} AS status,
      ${day('i', 'crm-day', seed)} AS last_update
    FROM bench_people`);
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.billing AS SELECT i AS cust_id, ${variant('f', 'l', 'i', 'bill-name', seed)} AS customer_name,
      ${pick(['ACTIVE', 'Act', 'A', 'active', 'suspended', 'SUSP', 'inactive', 'closed'], 'i', 'bill-status', seed)} AS account_status,
      CASE WHEN ${u('i', 'bill-same-day', seed)} < 0.1 THEN ${day('i', 'crm-day', seed)} ELSE ${day('i', 'bill-day', seed)} END AS modified
    FROM bench_people`);
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.support AS SELECT i AS id, ${variant('f', 'l', 'i', 'sup-name', seed)} AS full_name,
      ${pick(['standard', 'standard', 'premium', 'Premium ', 'enterprise'], 'i', 'sup-tier', seed)} AS tier_raw,
      ${day('i', 'sup-day', seed)} AS updated
    FROM bench_people`);
  // One support customer in ten has no tier.
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.support AS SELECT id, full_name, CASE WHEN ${u('id', 'sup-tier-null', seed)} < 0.1 THEN NULL ELSE tier_raw END AS tier, updated FROM silver.support`);
  await warehouse.execute(`DROP TABLE bench_people`);
}

/** P people over three systems (crm all, billing 7 in 8, support 5 in 8) under unrelated keys: ≈ 2P records. */
export async function generateWithoutSharedIds(warehouse, people, seed) {
  await warehouse.execute(`CREATE OR REPLACE TEMP TABLE bench_people AS SELECT i, ${first('i', seed)} AS f, ${last('i', seed)} AS l FROM range(1, ${people + 1}) t(i)`);
  const email = () => `lower(f || '.' || l || i || '@example.com')`;
  // Keys are scrambled per system, so no id is shared.
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.crm AS SELECT 'C' || (hash(i, ${seed}, 'ck') % 1000000000000) AS cid, i AS person, f || ' ' || l AS name,
      CASE WHEN ${u('i', 'c-mail', seed)} < 0.1 THEN NULL ELSE ${email()} END AS email FROM bench_people`);
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.billing AS SELECT 'B' || (hash(i, ${seed}, 'bk') % 1000000000000) AS bid, i AS person, ${variant('f', 'l', 'i', 'b-name', seed)} AS name,
      CASE WHEN ${u('i', 'b-mail', seed)} < 0.4 THEN NULL WHEN ${u('i', 'b-mail-typo', seed)} < 0.05 THEN replace(${email()}, '@', '@@') ELSE ${email()} END AS email
    FROM bench_people WHERE ${u('i', 'in-billing', seed)} < 0.875`);
  await warehouse.execute(`CREATE OR REPLACE TABLE silver.support AS SELECT 'S' || (hash(i, ${seed}, 'sk') % 1000000000000) AS sid, i AS person, ${variant('f', 'l', 'i', 's-name', seed)} AS name
    FROM bench_people WHERE ${u('i', 'in-support', seed)} < 0.625`);
  await warehouse.execute(`CREATE OR REPLACE TABLE bench_truth AS
    SELECT 'crm' AS source, cid AS source_key, person FROM silver.crm UNION ALL SELECT 'billing', bid, person FROM silver.billing UNION ALL SELECT 'support', sid, person FROM silver.support`);
  await warehouse.execute(`DROP TABLE bench_people`);
}
