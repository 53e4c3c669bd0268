import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * A keyed gold model recomputes only the keys its inputs touched. An input that cannot name those keys — a lookup
 * table without the key column, or a gold model keyed by something else — must make a change in it rebuild the
 * whole model, or the model silently keeps stale rows.
 */
function shopProject(): string {
  return projectFile({
    name: 'shop',
    sources: {
      customers: { path: 'landing/customers/*.csv', columns: ['customer_id', 'name', 'country'] },
      countries: { path: 'landing/countries/*.csv', columns: ['code', 'name'] },
    },
    silver: {
      customers: { columns: { customer_id: { type: 'integer' }, name: {}, country: {} }, key: 'customer_id' },
      countries: { columns: { code: {}, name: {} }, key: 'code' },
    },
    gold: {
      // Keyed by customer_id, joining a lookup table that has no customer_id column.
      customer_360: {
        key: 'customer_id',
        sql: 'SELECT c.customer_id, c.name, k.name AS country_name FROM silver.customers c LEFT JOIN silver.countries k ON k.code = c.country',
      },
      // Keyed by code: logs the codes it touched, which customer_labels (keyed by customer_id) cannot use.
      country_labels: { key: 'code', sql: 'SELECT code, upper(name) AS label FROM silver.countries' },
      customer_labels: {
        key: 'customer_id',
        sql: 'SELECT c.customer_id, l.label FROM silver.customers c LEFT JOIN gold.country_labels l ON l.code = c.country',
      },
    },
  });
}

const SNAPSHOT = {
  customer_360: 'SELECT customer_id, name, country_name FROM gold.customer_360 ORDER BY customer_id',
  customer_labels: 'SELECT customer_id, label FROM gold.customer_labels ORDER BY customer_id',
};

describe.each(ENGINES)('keyed gold over inputs without its key on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  const snapshot = async (): Promise<Record<string, unknown>> => Object.fromEntries(await Promise.all(Object.entries(SNAPSHOT).map(async ([k, sql]) => [k, await project.rows(sql)])));

  it('rebuilds when only the lookup table changed, and says why; still recomputes just the touched keys otherwise', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': shopProject(),
      'landing/customers/day1.csv': 'customer_id,name,country\n1,Ann,DE\n2,Bob,FR\n3,Cy,DE\n',
      'landing/countries/day1.csv': 'code,name\nDE,Germany\nFR,France\n',
    });
    expect((await project.run()).status).toBe('success');

    // Day 2: only the lookup table changes.
    project.write('landing/countries/day2.csv', 'code,name\nDE,Deutschland\n');
    const second = await project.run();
    expect(second.status).toBe('success');
    const incremental = await snapshot();
    expect(incremental.customer_360).toEqual([
      { customer_id: 1, name: 'Ann', country_name: 'Deutschland' },
      { customer_id: 2, name: 'Bob', country_name: 'France' },
      { customer_id: 3, name: 'Cy', country_name: 'Deutschland' },
    ]);
    await project.run({ fullRefresh: true });
    expect(incremental).toEqual(await snapshot());
    // And the run says why every key was recomputed.
    expect(second.steps.find((s) => s.step === 'gold.customer_360')?.message).toBe(
      'rebuilt because silver.countries changed; silver.countries cannot say which customer_id values it touched (it has no customer_id column), so every key is recomputed',
    );
    expect(second.steps.find((s) => s.step === 'gold.customer_labels')?.message).toBe(
      'rebuilt because gold.country_labels changed; gold.country_labels cannot say which customer_id values it touched (it is keyed by code), so every key is recomputed',
    );

    // Day 3: a change to the keyed input alone is still refreshed key by key.
    project.write('landing/customers/day3.csv', 'customer_id,name,country\n2,Bob,DE\n');
    const third = await project.run();
    expect(third.steps.find((s) => s.step === 'gold.customer_360')?.message).toBe('recomputed 1 changed key (1 row replaced, 1 written)');
    const afterDay3 = await snapshot();
    await project.run({ fullRefresh: true });
    expect(afterDay3).toEqual(await snapshot());
  });

  it('builds a keyed model that left the project file and came back from scratch, not from a change log with a gap', async () => {
    const full = shopProject();
    // Without customer_360 and customer_labels nothing needs customer_id logged, so silver.customers logs nothing.
    const without = projectFile({
      name: 'shop',
      sources: { customers: { path: 'landing/customers/*.csv', columns: ['customer_id', 'name', 'country'] }, countries: { path: 'landing/countries/*.csv', columns: ['code', 'name'] } },
      silver: { customers: { columns: { customer_id: { type: 'integer' }, name: {}, country: {} }, key: 'customer_id' }, countries: { columns: { code: {}, name: {} }, key: 'code' } },
      gold: { country_labels: { key: 'code', sql: 'SELECT code, upper(name) AS label FROM silver.countries' } },
    });
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': full,
      'landing/customers/day1.csv': 'customer_id,name,country\n1,Ann,DE\n2,Bob,FR\n',
      'landing/countries/day1.csv': 'code,name\nDE,Germany\nFR,France\n',
    });
    expect((await project.run()).status).toBe('success');
    project.write('refinery.config.ts', without);
    project.write('landing/customers/day2.csv', 'customer_id,name,country\n1,Anna,DE\n');
    expect((await project.run()).status).toBe('success');
    project.write('refinery.config.ts', full);
    const back = await project.run();
    expect(back.steps.find((s) => s.step === 'gold.customer_360')?.message).toBe('first build');
    expect((await snapshot()).customer_360).toEqual([
      { customer_id: 1, name: 'Anna', country_name: 'Germany' },
      { customer_id: 2, name: 'Bob', country_name: 'France' },
    ]);
  });
});
