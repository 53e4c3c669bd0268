import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { explainEntity } from '../src/integrate/explain.js';
import { applyProvidedRules, conflictingCustomers, toLandingFiles } from './helpers/conflicting-customers.js';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

const MASTER = `SELECT customer_id, name, email, status, tier FROM gold.customer_master ORDER BY customer_id`;

describe.each(ENGINES)('multi-source template on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  async function explain(id: string): Promise<Awaited<ReturnType<typeof explainEntity>>> {
    const { plan, warehouse } = await project.open();
    return explainEntity(warehouse, plan, 'customer', id);
  }

  it("resolves the course's customer 1001 exactly as the provided rules say", async () => {
    project = TestProject.fromTemplate(engine, 'multi-source');
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(report.steps.find((s) => s.step === 'integrate.customer_master')).toMatchObject({ kind: 'integrate', status: 'success', rowsIn: 30, rowsWritten: 14 - 1 });

    expect(await project.rows(`SELECT customer_id, name, email, status, tier FROM gold.customer_master WHERE customer_id = '1001'`)).toEqual([
      { customer_id: '1001', name: 'John Smith', email: null, status: 'suspended', tier: 'premium' },
    ]);
    expect(await project.rows(`SELECT field, value, source, rule, confidence, contested FROM gold.customer_master_provenance WHERE customer_id = '1001' ORDER BY field`)).toEqual([
      { field: 'email', value: null, source: null, rule: 'no_value', confidence: null, contested: false },
      { field: 'name', value: 'John Smith', source: 'crm', rule: 'source:crm', confidence: 1, contested: false },
      { field: 'status', value: 'suspended', source: 'billing', rule: 'most_recent', confidence: 0.5, contested: true },
      { field: 'tier', value: 'premium', source: 'support', rule: 'source:support', confidence: 1, contested: false },
    ]);
    const [name] = await project.rows(`SELECT candidates FROM gold.customer_master_provenance WHERE customer_id = '1001' AND field = 'name'`);
    expect((name?.candidates as Record<string, unknown>[]).map((c) => [c.source, c.value, String(c.updated_at).slice(0, 10), c.compatible, c.chosen])).toEqual([
      ['crm', 'John Smith', '2024-01-15', true, true],
      ['billing', 'J. Smith', '2024-01-20', true, false],
      ['support', 'John S.', '2024-01-18', true, false],
    ]);
    expect(await project.rows(`SELECT source, source_key, customer_id, matched_by FROM gold.customer_master_xref WHERE customer_id = '1001' ORDER BY source`)).toEqual([
      { source: 'billing', source_key: '1001', customer_id: '1001', matched_by: 'key' },
      { source: 'crm', source_key: '1001', customer_id: '1001', matched_by: 'new' },
      { source: 'support', source_key: '1001', customer_id: '1001', matched_by: 'key' },
    ]);

    const explained = await explain('1001');
    expect(explained.fields.map((f) => f.sentence)).toEqual([
      'name = John Smith: CRM\'s value, which the rules take first; billing said J. Smith, support said John S. Confidence 1.00 — all 3 agree.',
      'email has no value: no source supplies one.',
      "status = suspended: billing's value (2024-01-20) is the most recent of 2; CRM said active (2024-01-15). Confidence 0.50 — contested.",
      "tier = premium: support's value, the only one. Confidence 1.00.",
    ]);
  });

  it('resolves the sample conflicts, and scores the sources', async () => {
    project = TestProject.fromTemplate(engine, 'multi-source');
    await project.run();
    expect(await project.rows(MASTER)).toEqual([
      { customer_id: '1001', name: 'John Smith', email: null, status: 'suspended', tier: 'premium' },
      { customer_id: '1002', name: 'Maria Garcia', email: 'maria.garcia@example.com', status: 'active', tier: 'standard' },
      { customer_id: '1003', name: 'Ahmed Khan', email: 'ahmed.khan@example.com', status: 'suspended', tier: 'premium' },
      { customer_id: '1004', name: 'Li Wei', email: 'li.wei@example.cn', status: 'active', tier: 'standard' },
      { customer_id: '1005', name: 'Olivia Brown', email: 'olivia.brown@example.com', status: 'active', tier: 'enterprise' },
      { customer_id: '1006', name: 'Tom Novak', email: 'tom.novak@example.cz', status: 'active', tier: 'standard' },
      { customer_id: '1007', name: 'Dr. Sophie Martin', email: null, status: 'closed', tier: 'standard' },
      { customer_id: '1008', name: 'Kenji Watanabe', email: null, status: null, tier: 'enterprise' },
      { customer_id: '1009', name: "Grace O'Neill", email: 'grace.oneill@example.ie', status: 'suspended', tier: 'standard' },
      { customer_id: '1010', name: 'Jon Doe', email: 'jon.doe@example.com', status: 'active', tier: 'standard' },
      { customer_id: '1011', name: 'Chen Yu', email: 'chen.yu@example.com', status: 'active', tier: 'standard' },
      { customer_id: '1012', name: 'Priya Patel', email: 'priya.patel@example.in', status: 'pending', tier: 'standard' },
      { customer_id: '1013', name: 'Lucas Silva', email: 'lucas.silva@example.br', status: 'active', tier: 'premium' },
    ]);
    // A tie on the business date goes to billing; accents and abbreviations are compatible, swapped names are not.
    expect((await explain('1004')).fields.find((f) => f.field === 'status')?.sentence).toBe(
      'status = active (billing wrote A): CRM and billing tie as most recent (2024-01-14), so billing\'s value is taken; CRM said inactive (2024-01-14). Confidence 0.50 — contested.',
    );
    expect((await explain('1005')).fields[0]?.sentence).toBe("name = Olivia Brown: CRM has none, so billing's value is the longest of 2; support said Olivia B. Confidence 1.00 — both agree.");
    expect(await project.rows(`SELECT customer_id, confidence FROM gold.customer_master_provenance WHERE field = 'name' AND customer_id IN ('1002', '1010', '1011') ORDER BY 1`)).toEqual([
      { customer_id: '1002', confidence: 1 },
      { customer_id: '1010', confidence: 0.5 },
      { customer_id: '1011', confidence: 0.5 },
    ]);
    const scorecard = await project.rows(`SELECT source, records, round(completeness, 3) AS completeness, validity, round(consistency, 3) AS consistency, CAST(latest_update AS DATE)::VARCHAR AS latest FROM gold.source_quality ORDER BY source`);
    expect(scorecard).toEqual([
      { source: 'billing', records: 11, completeness: 0.955, validity: 1, consistency: 0.857, latest: '2024-01-25' },
      { source: 'crm', records: 11, completeness: 0.939, validity: 1, consistency: 0.871, latest: '2024-01-20' },
      { source: 'support', records: 8, completeness: 0.938, validity: 1, consistency: 0.933, latest: '2024-01-22' },
    ]);
    // The record score: the average of its fields' confidence, a field no source supplies counting 0.
    expect(await project.rows(`SELECT _quality, _contested FROM gold.customer_master WHERE customer_id = '1001'`)).toEqual([{ _quality: 0.625, _contested: 1 }]);
    // Gold models read the golden tables like any other.
    expect(await project.rows(`SELECT field, customers FROM gold.contested_fields ORDER BY field`)).toEqual([
      { field: 'name', customers: 3 },
      { field: 'status', customers: 5 },
    ]);
  });

  it('resolves an unseen set of conflicting customers exactly as the provided rules say', async () => {
    project = TestProject.fromTemplate(engine, 'multi-source');
    for (const zone of ['crm/crm_2024-01.csv', 'billing/billing_2024-01.csv', 'support/support_2024-01.jsonl']) project.remove(`landing/${zone}`);
    const customers = conflictingCustomers(60, 20240301);
    for (const [path, content] of Object.entries(toLandingFiles(customers))) project.write(path, content);
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(await project.rows(MASTER)).toEqual(applyProvidedRules(customers));
    // Every field of every customer explains itself.
    const { rows } = await (await project.open()).warehouse.query(`SELECT count(*) AS n FROM gold.customer_master_provenance WHERE rule IS NULL`);
    expect(rows[0]?.n).toBe(0);
    for (const id of ['5000', '5017', '5042']) for (const f of (await explain(id)).fields) expect(f.sentence).toMatch(new RegExp(`^${f.field} (=|has no value)`));
  });

  it('re-runs as a no-op, updates only the master of a changed record, and never changes a master id', async () => {
    project = TestProject.fromTemplate(engine, 'multi-source');
    await project.run();
    const ids = await project.rows(`SELECT source, source_key, customer_id FROM gold.customer_master_xref ORDER BY source, source_key`);
    const before = await project.rows(`SELECT * FROM gold.customer_master ORDER BY customer_id`);

    const again = await project.run();
    expect(again.steps.find((s) => s.step === 'integrate.customer_master')).toMatchObject({ status: 'skipped' });
    expect(await project.rows(`SELECT * FROM gold.customer_master ORDER BY customer_id`)).toEqual(before);

    // Billing suspends 1003 in February: only customer 1003 is resolved again.
    project.write('landing/billing/billing_2024-02.csv', 'cust_id,customer_name,account_status,modified\n1003,Ahmed Khan,SUSP,2024-02-01\n');
    const third = await project.run();
    expect(third.steps.find((s) => s.step === 'integrate.customer_master')).toMatchObject({ status: 'success', rowsWritten: 1 });
    const after = await project.rows(`SELECT * FROM gold.customer_master ORDER BY customer_id`);
    const changed = after.filter((row, i) => JSON.stringify(row) !== JSON.stringify(before[i]));
    expect(changed.map((r) => r.customer_id)).toEqual(['1003']);
    expect(changed[0]).toMatchObject({ status: 'suspended', _run_id: third.runId });
    expect((await explain('1003')).fields.find((f) => f.field === 'status')?.sentence).toBe(
      "status = suspended (billing wrote SUSP): billing's value (2024-02-01) is the most recent of 2; CRM said suspended (2024-01-20). Confidence 1.00 — both agree.",
    );

    // A new customer in support and a full refresh: still the same ids for every record seen before.
    project.write('landing/support/support_2024-02.jsonl', '{"id": 1006, "full_name": "Tom Novak", "tier": "premium", "updated": "2024-02-03"}\n{"id": 1099, "full_name": "Ada Byron", "tier": "standard", "updated": "2024-02-03"}\n');
    await project.run();
    await project.run({ fullRefresh: true });
    const idsAfter = await project.rows(`SELECT source, source_key, customer_id FROM gold.customer_master_xref ORDER BY source, source_key`);
    expect(idsAfter.filter((r) => ids.some((i) => i.source === r.source && i.source_key === r.source_key))).toEqual(ids);
    expect(idsAfter.find((r) => r.source === 'support' && r.source_key === '1006')).toMatchObject({ customer_id: '1006' });
    expect(idsAfter.find((r) => r.source === 'support' && r.source_key === '1099')).toMatchObject({ customer_id: '1099' });
  });

  it('keeps the id of a record that leaves its source, inactive, and gives it back when the record returns', async () => {
    project = TestProject.fromTemplate(engine, 'multi-source');
    await project.run();
    const support = readFileSync(join(project.dir, 'landing/support/support_2024-01.jsonl'), 'utf8');
    // The support system drops Kenji (1008, only known there) and Ahmed's ticket record (1003).
    project.write('landing/support/support_2024-01.jsonl', support.split('\n').filter((l) => !l.includes('"id": 1008') && !l.includes('"id": 1003')).join('\n'));
    const second = await project.run();
    expect(second.steps.find((s) => s.step === 'integrate.customer_master')?.message).toContain('1 customer record removed: no source record left');
    expect(await project.rows(`SELECT source, source_key, customer_id, active FROM gold.customer_master_xref WHERE source = 'support' AND source_key IN ('1003', '1008') ORDER BY 2`)).toEqual([
      { source: 'support', source_key: '1003', customer_id: '1003', active: false },
      { source: 'support', source_key: '1008', customer_id: '1008', active: false },
    ]);
    expect(await project.rows(`SELECT customer_id, tier, _run_id FROM gold.customer_master WHERE customer_id IN ('1003', '1008')`)).toEqual([{ customer_id: '1003', tier: 'standard', _run_id: second.runId }]);
    await expect(explain('1008')).rejects.toMatchObject({ code: 'entity_gone' });
    project.write('landing/support/support_2024-02.jsonl', support.split('\n').filter((l) => l.includes('"id": 1008') || l.includes('"id": 1003')).join('\n'));
    await project.run();
    expect(await project.rows(`SELECT customer_id, tier FROM gold.customer_master WHERE customer_id IN ('1003', '1008') ORDER BY 1`)).toEqual([
      { customer_id: '1003', tier: 'premium' },
      { customer_id: '1008', tier: 'enterprise' },
    ]);
    expect(await project.rows(`SELECT count(*) AS n FROM gold.customer_master_xref WHERE NOT active`)).toEqual([{ n: 0 }]);
  });

  it('re-resolves every master when a survivorship rule changes, and explain gives the new reason', async () => {
    project = TestProject.fromTemplate(engine, 'multi-source');
    const first = await project.run();
    const config = join(project.dir, 'refinery.config.ts');
    // New rule: status is the billing system's, whatever the dates.
    writeFileSync(config, readFileSync(config, 'utf8').replace("rules: ['most_recent', { source: 'billing' }]", "rules: [{ source: 'billing' }, 'most_recent']"));
    const second = await project.run();
    expect(second.steps.find((s) => s.step === 'integrate.customer_master')).toMatchObject({ status: 'success', rowsWritten: 13 });
    expect(second.steps.find((s) => s.step === 'integrate.customer_master')?.message).toContain('its survivorship rules changed');
    expect(await project.rows(`SELECT count(*) AS n FROM gold.customer_master WHERE _run_id = ${second.runId}`)).toEqual([{ n: 13 }]);
    expect(first.runId).toBeLessThan(second.runId);
    // 1003: CRM's suspension (2024-01-20) was the most recent; billing now decides: active.
    expect(await project.rows(`SELECT status FROM gold.customer_master WHERE customer_id = '1003'`)).toEqual([{ status: 'active' }]);
    expect((await explain('1003')).fields.find((f) => f.field === 'status')?.sentence).toBe(
      "status = active (billing wrote Act): billing's value, which the rules take first; CRM said suspended. Confidence 0.50 — contested.",
    );
  });
});
