import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refinery } from './helpers/cli.js';
import { tempDir } from './helpers/temp-project.js';

/** `refinery explain` and the multi-source template, driven as a learner would: the built bin in a temp directory. */
describe('refinery explain (CLI)', () => {
  let root: string;
  let dir: string;
  beforeAll(() => {
    root = tempDir('refinery-explain-');
    dir = join(root, 'lab3');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('scaffolds the multi-source lab, runs it, and explains customer 1001 in plain words', () => {
    const init = refinery(['init', 'lab3', '--template', 'multi-source'], { cwd: root });
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('refinery explain customer 1001');
    const run = refinery(['run', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { steps: { name: string; kind: string; status: string }[] };
    expect(report.steps.find((s) => s.name === 'integrate.customer_master')).toMatchObject({ kind: 'integrate', status: 'success' });

    const explain = refinery(['explain', 'customer', '1001'], { cwd: dir });
    expect(explain.code).toBe(0);
    expect(explain.stdout.split('\n')).toEqual([
      'customer 1001: from CRM 1001 (first seen), billing 1001 (matched by key), support 1001 (matched by key). Quality 0.63, 1 contested field.',
      "  name = John Smith: CRM's value, which the rules take first; billing said J. Smith, support said John S. Confidence 1.00 — all 3 agree.",
      '  email has no value: no source supplies one.',
      "  status = suspended: billing's value (2024-01-20) is the most recent of 2; CRM said active (2024-01-15). Confidence 0.50 — contested.",
      "  tier = premium: support's value, the only one. Confidence 1.00.",
      '',
    ]);

    const json = refinery(['explain', 'customer', 'billing:1001', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    const data = JSON.parse(json.stdout) as { id: string; fields: { field: string; value: string; source: string; rule: string; confidence: number; contested: boolean; candidates: { source: string; value: string; updatedAt: string }[] }[] };
    expect(data.id).toBe('1001');
    expect(data.fields.find((f) => f.field === 'status')).toMatchObject({
      value: 'suspended',
      source: 'billing',
      rule: 'most_recent',
      confidence: 0.5,
      contested: true,
      candidates: [
        { source: 'crm', value: 'active', updatedAt: '2024-01-15' },
        { source: 'billing', value: 'suspended', updatedAt: '2024-01-20' },
      ],
    });
  });

  it('answers mistakes with what is allowed and exit 2, never a stack trace', () => {
    const entity = refinery(['explain', 'client', '1001'], { cwd: dir });
    expect(entity.code).toBe(2);
    expect(entity.stderr).toContain("There is no entity 'client'.");
    expect(entity.stderr).toContain('allowed: customer');
    const id = refinery(['explain', 'customer', '4242'], { cwd: dir });
    expect(id.code).toBe(2);
    expect(id.stderr).toContain("There is no customer '4242'.");
    expect(id.stderr).toContain('refinery show gold.customer_master');
    expect(`${entity.stderr}${id.stderr}`).not.toMatch(/\bat .*\.js:\d+/);

    const config = join(dir, 'refinery.config.ts');
    writeFileSync(config, readFileSync(config, 'utf8').replace("table: 'silver.billing'", "table: 'silver.biling'"));
    const broken = refinery(['run'], { cwd: dir });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/refinery\.config\.ts:\d+ integrate\.customer_master\.sources\.billing\.table: no step builds 'silver\.biling'/);
    expect(broken.stderr).toContain("Did you mean 'silver.billing'?");
  });
});
