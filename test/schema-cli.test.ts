import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refinery } from './helpers/cli.js';
import { tempDir } from './helpers/temp-project.js';

/** `refinery schema`, driven as a user would: the built bin in a scaffolded lab that receives a file with a new column. */
describe('refinery schema', () => {
  let root: string;
  let dir: string;
  beforeAll(() => {
    root = tempDir('refinery-schema-');
    dir = join(root, 'lab');
    expect(refinery(['init', 'lab'], { cwd: root }).code).toBe(0);
    expect(refinery(['run'], { cwd: dir }).code).toBe(0);
    writeFileSync(
      join(dir, 'landing/customers/customers_day2.csv'),
      'customer_id,name,email,phone,country,status,signup_date,updated_at,loyalty_tier\n1008,Nora Berg,nora.berg@example.no,,NO,active,2024-02-01,2024-02-01 09:00:00,gold\n',
    );
    const run = refinery(['run'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('schema: new column loyalty_tier (VARCHAR) added to bronze.customers');
    expect(run.stdout).toContain('new column loyalty_tier (VARCHAR) passed through from bronze (contract newColumns: evolve)');
  }, 120_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('prints the current columns and version, and the history with what changed and which batch brought it', () => {
    const now = refinery(['schema', 'silver.customers'], { cwd: dir });
    expect(now.code).toBe(0);
    expect(now.stdout).toMatch(/^silver\.customers — schema version 2\nsince run 2, .*: merged new bronze batches; new column loyalty_tier \(VARCHAR\) passed through/);
    expect(now.stdout).toMatch(/loyalty_tier\s+VARCHAR/);

    const history = refinery(['schema', 'bronze.customers', '--history'], { cwd: dir });
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/version 1 {2}created {2}batch 1 \(landing\/customers\/customers_day1\.csv\), run 1, .*: created from the first batch\n {4}customer_id VARCHAR, name VARCHAR/);
    expect(history.stdout).toMatch(/version 2 {2}changed {2}batch 2 \(landing\/customers\/customers_day2\.csv\), run 2, .*: brought new column loyalty_tier \(VARCHAR\)\n {4}\+ loyalty_tier VARCHAR/);
    expect(history.stdout).toMatch(/_batch_id\s+BIGINT\s+lineage/);
  });

  it('gives the same facts as JSON', () => {
    const result = refinery(['schema', 'bronze.customers', '--history', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as Record<string, unknown> & { history: Record<string, unknown>[]; columns: { name: string; type: string }[] };
    expect(json).toMatchObject({ table: 'bronze.customers', version: 2, introducedBy: { runId: 2, batchId: 2, file: 'landing/customers/customers_day2.csv' } });
    expect(json.columns.at(-1)).toEqual({ name: 'loyalty_tier', type: 'VARCHAR' });
    expect(json.history.map((h) => [h.version, h.event, h.batchId])).toEqual([
      [1, 'created', 1],
      [2, 'changed', 2],
    ]);
    expect(json.history[1]?.changes).toEqual([{ kind: 'added', column: 'loyalty_tier', to: 'VARCHAR' }]);
  });

  it('names the tables it knows when asked for one that does not exist (exit 2)', () => {
    const result = refinery(['schema', 'silver.nope'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("There is no table 'silver.nope' in the warehouse.");
    expect(result.stderr).toContain('bronze.customers');
  });
});
