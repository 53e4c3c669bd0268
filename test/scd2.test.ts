import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

/** Daily customer status updates, kept as history: every status a customer ever had, and when. */
function statusProject(): string {
  return projectFile({
    name: 'history',
    sources: { status: { path: 'landing/status/*.csv', columns: ['customer_id', 'status', 'updated_at'] } },
    silver: {
      status_history: {
        from: 'status',
        columns: { customer_id: { type: 'integer', clean: ['trim'] }, status: { clean: ['trim', 'lower'] }, updated_at: { type: 'timestamp' } },
        checks: [{ name: 'invalid_customer_id', column: 'customer_id', rule: { min: 1 } }],
        key: 'customer_id',
        latest: 'updated_at',
        materialize: 'scd2',
      },
    },
  });
}

const day = (rows: string[]): string => `customer_id,status,updated_at\n${rows.join('\n')}\n`;

describe.each(ENGINES)('scd2 history on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  const history = () =>
    project.rows(`SELECT customer_id, status, CAST(valid_from AS VARCHAR) AS valid_from, CAST(valid_to AS VARCHAR) AS valid_to, is_current FROM silver.status_history ORDER BY customer_id, valid_from`);

  it('keeps every version with valid_from, valid_to and is_current; re-applied changes add nothing; late changes slot in', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': statusProject(),
      'landing/status/day1.csv': day(['1,active,2024-01-01 00:00:00', '2,active,2024-01-01 00:00:00']),
    });
    await project.run();
    project.write('landing/status/day2.csv', day(['1,suspended,2024-01-02 00:00:00', '2,ACTIVE,2024-01-02 00:00:00']));
    await project.run();
    expect(await history()).toEqual([
      { customer_id: 1, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { customer_id: 1, status: 'suspended', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
      // 'ACTIVE' cleans to 'active' but its updated_at differs, so it is a new version of the same state.
      { customer_id: 2, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { customer_id: 2, status: 'active', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
    ]);
    // The same change delivered again (another file, identical rows) creates no version.
    project.write('landing/status/day2-resent.csv', day(['1,suspended,2024-01-02 00:00:00']));
    const resent = await project.run();
    expect(resent.steps.find((s) => s.step === 'silver.status_history')).toMatchObject({ rowsIn: 1, rowsWritten: 0, rowsSuperseded: 1 });
    expect((await history()).length).toBe(4);
    // A change that arrives late, between two known versions, slots into place.
    project.write('landing/status/late.csv', day(['1,pending,2024-01-01 12:00:00']));
    await project.run();
    expect((await history()).filter((r) => r.customer_id === 1)).toEqual([
      { customer_id: 1, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-01 12:00:00', is_current: false },
      { customer_id: 1, status: 'pending', valid_from: '2024-01-01 12:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { customer_id: 1, status: 'suspended', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
    ]);
    const audit = await project.audit();
    expect(audit.tables[0]).toMatchObject({ bronze: 6, silver: 5, superseded: 1, balanced: true });
    // Incremental equals a rebuild from scratch.
    const incremental = await history();
    await project.run({ fullRefresh: true });
    expect(await history()).toEqual(incremental);
  });
});
