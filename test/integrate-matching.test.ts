import { afterEach, describe, expect, it } from 'vitest';
import { explainEntity } from '../src/integrate/explain.js';
import { TestClock } from '../src/orchestrator/clock.js';
import { runPipeline } from '../src/orchestrator/run-pipeline.js';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/** Three systems without a shared id: matching has to find the people by name and email. */
function peopleConfig(match: string, fields = `name: { kind: 'name', rules: ['longest'] }, email: { kind: 'email' }`): string {
  const silver = (key: string, extra: string): string => `{ columns: { ${key}: { clean: ['trim'] }, name: { clean: ['trim'] }${extra} }, key: '${key}' }`;
  return `import { defineProject } from 'refinery';
export default defineProject({
  name: 'people',
  sources: {
    crm: { path: 'landing/crm/*.csv', columns: ['cid', 'name', 'email'] },
    billing: { path: 'landing/billing/*.csv', columns: ['bid', 'name', 'email'] },
    support: { path: 'landing/support/*.csv', columns: ['sid', 'name'] },
  },
  silver: {
    crm: ${silver('cid', ", email: { clean: ['trim'] }")},
    billing: ${silver('bid', ", email: { clean: ['trim'] }")},
    support: ${silver('sid', '')},
  },
  integrate: {
    people: {
      entity: 'person',
      key: 'person_id',
      sources: {
        crm: { table: 'silver.crm', key: 'cid', fields: { name: 'name', email: 'email' } },
        billing: { table: 'silver.billing', key: 'bid', fields: { name: 'name', email: 'email' } },
        support: { table: 'silver.support', key: 'sid', fields: { name: 'name' } },
      },
      match: ${match},
      fields: { ${fields} },
    },
  },
});
`;
}

const FUZZY = `{
  rules: ['email'],
  fuzzy: {
    blocking: ['name:last_word', 'email'],
    compare: {
      name: { levels: [{ exact: true, weight: 8 }, { initials: true, weight: 6 }, { jaroWinkler: 0.95, weight: 6 }, { levenshtein: 1, weight: 6 }], else: -5 },
      email: 'email',
    },
    threshold: 6,
  },
  mustLink: [['crm:c5', 'billing:b5']],
  cannotLink: [['crm:c6', 'billing:b6']],
}`;

const CRM = ['cid,name,email', 'c1,John Smith,john@x.com', 'c2,Katherine Johnson,kj@x.com', 'c3,Chris Taylor,ct@x.com', 'c4,Robert King,rk@x.com', 'c5,Liz Hurley,liz@x.com', 'c6,Sam Lee,sam@x.com', 'c7,Mary Brown,mb@x.com', 'c8,Mei Ng,'].join('\n');
const BILLING = [
  'bid,name,email',
  'b1,J. Smith,JOHN@X.COM', // same e-mail, another case: the deterministic rule
  'b2,Katharine Johnson,', // a typo: Jaro-Winkler 0.95
  'b3,C. Taylor,', // initials
  'b4,R. King,', // initials, but billing already has an exact Robert King: one record per source
  'b9,Robert King,',
  'b5,Elizabeth Hurley,', // no match on its own: must-link
  'b6,Sam Lee,sam@x.com', // would match: cannot-link
  'b7,Peter Brown,', // same block as Mary Brown, names disagree
  'b8,Mei Nq,', // one letter off, but in another block (last word): never compared
].join('\n');
const SUPPORT = ['sid,name', 's1,J Smith', 's3,Christine Taylor'].join('\n');

async function clusters(project: TestProject): Promise<string[][]> {
  const rows = await project.rows(`SELECT person_id, list(source || ':' || source_key ORDER BY source || ':' || source_key) AS members FROM gold.people_xref WHERE active GROUP BY person_id ORDER BY person_id`);
  return rows.map((r) => [String(r.person_id), ...(r.members as string[])]);
}

describe.each(ENGINES)('matching on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  it('links by e-mail, initials and typos within blocks; one record per source, no chaining; must-link and cannot-link', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleConfig(FUZZY), 'landing/crm/a.csv': CRM, 'landing/billing/a.csv': BILLING, 'landing/support/a.csv': SUPPORT });
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(await clusters(project)).toEqual([
      ['b4', 'billing:b4'],
      ['b6', 'billing:b6'],
      ['b7', 'billing:b7'],
      ['b8', 'billing:b8'],
      ['c1', 'billing:b1', 'crm:c1', 'support:s1'],
      ['c2', 'billing:b2', 'crm:c2'],
      ['c3', 'billing:b3', 'crm:c3'],
      ['c4', 'billing:b9', 'crm:c4'],
      ['c5', 'billing:b5', 'crm:c5'],
      ['c6', 'crm:c6'],
      ['c7', 'crm:c7'],
      ['c8', 'crm:c8'],
      // Christine Taylor links to "C. Taylor" but not to "Chris Taylor": she is not chained into their entity.
      ['s3', 'support:s3'],
    ]);
    expect(await project.rows(`SELECT source_key, matched_by, match_weight FROM gold.people_xref WHERE source_key IN ('b1', 'b2', 'b3', 'b5', 's1') ORDER BY source_key`)).toEqual([
      { source_key: 'b1', matched_by: 'email', match_weight: null },
      { source_key: 'b2', matched_by: 'fuzzy', match_weight: 6 },
      { source_key: 'b3', matched_by: 'fuzzy', match_weight: 6 },
      { source_key: 'b5', matched_by: 'must_link', match_weight: null },
      { source_key: 's1', matched_by: 'fuzzy', match_weight: 8 },
    ]);
    const { plan, warehouse } = await project.open();
    const c1 = await explainEntity(warehouse, plan, 'person', 'c1');
    expect(c1.sentence).toBe('person c1: from crm c1 (first seen), billing b1 (matched by email), support s1 (matched by fuzzy, weight 8.0). Quality 1.00.');
    expect(c1.fields[0]?.sentence).toBe("name = John Smith: crm's value is the longest of 3; billing said J. Smith, support said J Smith. Confidence 1.00 — all 3 agree.");
    // A source record finds its entity too.
    expect((await explainEntity(warehouse, plan, 'person', 'billing:b9')).id).toBe('c4');
  });

  it('matches new records into existing entities incrementally, keeping every master id', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleConfig(FUZZY), 'landing/crm/a.csv': CRM, 'landing/billing/a.csv': BILLING, 'landing/support/a.csv': SUPPORT });
    const first = await project.run();
    const before = await clusters(project);
    project.write('landing/support/b.csv', ['sid,name', 's2,K. Johnson', 's4,Robert King', 's10,Zoe Quinn'].join('\n'));
    const second = await project.run();
    const step = second.steps.find((s) => s.step === 'integrate.people');
    expect(step).toMatchObject({ status: 'success', rowsWritten: 3 });
    expect(step?.message).toContain('matched 3 new records: 2 into existing person records, 1 new person record');
    const after = await clusters(project);
    expect(after.find((c) => c[0] === 'c2')).toEqual(['c2', 'billing:b2', 'crm:c2', 'support:s2']);
    expect(after.find((c) => c[0] === 'c4')).toEqual(['c4', 'billing:b9', 'crm:c4', 'support:s4']);
    expect(after.find((c) => c[0] === 's10')).toEqual(['s10', 'support:s10']);
    // Every entity of the first run keeps its id and members; only the three touched are resolved again.
    for (const cluster of before) expect(after.find((c) => c[0] === cluster[0])?.slice(0, cluster.length)).toEqual(cluster);
    expect(await project.rows(`SELECT person_id FROM gold.people WHERE _run_id = ${second.runId} ORDER BY 1`)).toEqual([{ person_id: 'c2' }, { person_id: 'c4' }, { person_id: 's10' }]);
    expect(await project.rows(`SELECT count(*) AS n FROM gold.people WHERE _run_id = ${first.runId}`)).toEqual([{ n: 10 + 1 }]);
  });

  it('moves records when an override is added later, and names colliding entities apart', async () => {
    const files = { 'landing/crm/a.csv': 'cid,name,email\n7,Ann Lee,ann@x.com\n8,Bo Chan,bo@x.com\n', 'landing/billing/a.csv': 'bid,name,email\n7,Tim Ray,tim@x.com\n9,Bo Chan,bo@x.com\n', 'landing/support/a.csv': 'sid,name\n' };
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleConfig(`{ rules: ['email'] }`), ...files });
    await project.run();
    // crm 7 and billing 7 are different people: the second to be named gets its source in front.
    expect(await clusters(project)).toEqual([
      ['7', 'crm:7'],
      ['8', 'billing:9', 'crm:8'],
      ['billing:7', 'billing:7'],
    ]);
    project.write('refinery.config.ts', peopleConfig(`{ rules: ['email'], cannotLink: [['crm:8', 'billing:9']], mustLink: [['crm:7', 'billing:7']] }`));
    await project.run();
    expect(await clusters(project)).toEqual([
      ['7', 'billing:7', 'crm:7'],
      ['8', 'crm:8'],
      // Released by the cannot-link, billing 9 founds an entity of its own, named after its key.
      ['9', 'billing:9'],
    ]);
    expect(await project.rows(`SELECT source_key, matched_by FROM gold.people_xref WHERE source = 'billing' ORDER BY source_key`)).toEqual([
      { source_key: '7', matched_by: 'must_link' },
      { source_key: '9', matched_by: 'new' },
    ]);
    expect(await project.rows(`SELECT person_id FROM gold.people ORDER BY 1`)).toEqual([{ person_id: '7' }, { person_id: '8' }, { person_id: '9' }]);
  });

  it('runs a custom rule (the slow path), trust with decay, and trust-weighted confidence', async () => {
    const fields = `name: {
        kind: 'name',
        rules: [{ custom: (candidates) => candidates.find((c) => c.value.startsWith('Dr.'))?.source, name: 'prefer_title' }, 'most_trusted'],
      },
      email: { kind: 'email', rules: ['most_trusted'] }`;
    const config = peopleConfig(`{ rules: ['key'] }`, fields)
      .replace("crm: { table: 'silver.crm', key: 'cid',", "crm: { table: 'silver.crm', key: 'cid', trust: 1, trustHalfLife: '30d', updatedAt: 'seen',")
      .replace("billing: { table: 'silver.billing', key: 'bid',", "billing: { table: 'silver.billing', key: 'bid', trust: 0.4,")
      .replace("columns: ['cid', 'name', 'email']", "columns: ['cid', 'name', 'email', 'seen']")
      .replace("email: { clean: ['trim'] } }, key: 'cid'", "email: { clean: ['trim'] }, seen: { type: 'date' } }, key: 'cid'")
      .replace('fields: { name: {', "confidence: 'trust_weighted', fields: { name: {");
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': config,
      // crm's trust halves every 30 days: a record from 2020 is worth almost nothing against billing's steady 0.4.
      'landing/crm/a.csv': 'cid,name,email,seen\n1,Jane Roe,jane@old.com,2020-01-01\n2,Max Mustermann,max@x.de,2020-01-01\n',
      'landing/billing/a.csv': 'bid,name,email\n1,Dr. Jane Roe,jane@new.com\n2,M. Mustermann,max@x.de\n',
      'landing/support/a.csv': 'sid,name\n',
    });
    // The run's clock decides ages: on 2020-03-01 crm's January record has aged two half-lives (trust 0.25).
    const { plan, warehouse } = await project.open();
    const report = await runPipeline(plan, warehouse, { clock: new TestClock('2020-03-01T00:00:00Z') });
    expect(report.status).toBe('success');
    expect(await project.rows(`SELECT person_id, name, email FROM gold.people ORDER BY 1`)).toEqual([
      { person_id: '1', name: 'Dr. Jane Roe', email: 'jane@new.com' },
      { person_id: '2', name: 'M. Mustermann', email: 'max@x.de' },
    ]);
    const one = await explainEntity(warehouse, plan, 'person', '1');
    expect(one.fields[0]?.sentence).toBe("name = Dr. Jane Roe: the custom rule prefer_title chose billing's value; crm said Jane Roe. Confidence 0.61 — contested.");
    expect(one.fields[1]?.sentence).toBe('email = jane@new.com: billing is the most trusted of 2 sources; crm said jane@old.com. Confidence 0.61 — contested.');
    // Trust-weighted: each source votes with its decayed trust, 0.4 / (0.4 + 0.25).
    const [email] = await project.rows(`SELECT confidence, contested FROM gold.people_provenance WHERE person_id = '1' AND field = 'email'`);
    expect(email?.confidence).toBeCloseTo(0.4 / 0.65, 9);
    expect(email?.contested).toBe(true);
    // For 2 the custom rule finds no title and passes; the most trusted source decides.
    expect((await explainEntity(warehouse, plan, 'person', '2')).fields[0]?.rule).toBe('most_trusted');
  });
});
