import { afterEach, describe, expect, it } from 'vitest';
import { RefineryError } from '../src/errors.js';
import { ENGINES } from './helpers/engines.js';
import { peopleProject } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

async function configFailure(project: TestProject): Promise<RefineryError> {
  try {
    await project.open();
  } catch (error) {
    if (error instanceof RefineryError) return error;
    throw error;
  }
  throw new Error('expected the project to be rejected');
}

describe.each(ENGINES)('project file validation on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  it('names the file, line, key path, bad value, what is allowed and a fix — for every problem at once', async () => {
    const file = [
      "import { defineProject } from 'refinery';",
      'export default defineProject({',
      "  name: 'x',",
      "  sources: { people: { path: 'landing/*.csv', columns: ['id', 'name'] } },",
      '  silver: {',
      '    people: {',
      "      columns: { id: { type: 'integer' }, name: { clean: ['trim', 'shout'] } },",
      "      checks: [{ name: 'bad', column: 'id', rule: 'not_null', action: 'explode' }],",
      "      materialise: 'merge',",
      '    },',
      '  },',
      '});',
    ].join('\n');
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': file });
    const error = await configFailure(project);
    expect(error.kind).toBe('config');
    expect(error.exitCode).toBe(2);
    const byPath = Object.fromEntries(error.issues.map((i) => [i.path, i]));
    expect(byPath['silver.people.checks[0].action']).toMatchObject({
      code: 'config_invalid_value',
      line: 8,
      value: 'explode',
      allowed: "'warn', 'quarantine', 'fail'",
      file: expect.stringMatching(/refinery\.config\.ts$/),
    });
    expect(byPath['silver.people.materialise']).toMatchObject({ code: 'config_unknown_key', line: 9, hint: "Did you mean 'materialize'?" });
    expect(byPath['silver.people.columns.name.clean[1]']).toMatchObject({ code: 'config_invalid_value', line: 7, value: 'shout', allowed: expect.stringContaining("'title_case'") });
  });

  it.each([
    ['an unknown source', { silver: { persons: { columns: { id: {} } } } }, 'config_unknown_source', 'silver.persons'],
    ['a key that is not a column', { silver: { people: { columns: { id: {} }, key: 'idd' } } }, 'config_unknown_column', 'silver.people.key'],
    ['a check on a missing column', { silver: { people: { columns: { id: {} }, checks: [{ name: 'c', column: 'nope', rule: 'not_null' }] } } }, 'config_unknown_column', 'silver.people.checks[0].column'],
    ['a reference to a missing table', { silver: { people: { columns: { id: {} }, checks: [{ name: 'c', column: 'id', rule: { references: 'silver.teams.id' } }] } } }, 'config_unknown_reference', 'silver.people.checks[0].rule.references'],
    ['merge without a key', { silver: { people: { columns: { id: {} }, materialize: 'merge' } } }, 'config_merge_needs_key', 'silver.people.materialize'],
    ['a raw column the source does not have', { silver: { people: { columns: { age: { type: 'integer' } } } } }, 'config_unknown_column', 'silver.people.columns.age'],
    ['a bad table name', { silver: { 'my-people': { from: 'people', columns: { id: {} } } } }, 'config_invalid_name', 'silver.my-people'],
    ['an unknown type', { silver: { people: { columns: { id: { type: 'int' } } } } }, 'config_invalid_value', 'silver.people.columns.id.type'],
    ['a decimal wider than 38 digits', { silver: { people: { columns: { id: { type: 'decimal(40,2)' } } } } }, 'config_invalid_value', 'silver.people.columns.id.type'],
    ['a decoding memory that is not a size', { sources: { crm: { kind: 'postgres', table: 'customers', key: 'id', load: { strategy: 'cdc', decodingMemory: '2 gigs' } } } }, 'config_invalid_value', 'sources.crm.load.decodingMemory'],
    ['min/max on a text column', { silver: { people: { columns: { name: {} }, checks: [{ name: 'c', column: 'name', rule: { min: 1 } }] } } }, 'config_range_needs_number', 'silver.people.checks[0].rule'],
  ])('rejects %s', async (_what, extra, code, path) => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject({}, extra as never) });
    const error = await configFailure(project);
    expect(error.issues.map((i) => [i.code, i.path])).toContainEqual([code, path]);
    expect(error.issues.every((i) => i.hint && i.message.length > 0)).toBe(true);
  });

  it('says which types exist when a type is unknown', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject({}, { silver: { people: { columns: { id: { type: 'int' } } } } } as never) });
    const issue = (await configFailure(project)).issues[0];
    expect(issue).toMatchObject({ message: "silver.people.columns.id.type: 'int' is not a known type", allowed: expect.stringContaining("'integer'") });
  });

  it('rejects gold SQL that does not parse or reads a table no step builds, and names a cycle', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject({}, { gold: { a: { sql: 'SELEC 1' } } }) });
    expect((await configFailure(project)).issues[0]).toMatchObject({ code: 'config_sql_invalid', path: 'gold.a.sql' });
    await project.dispose();

    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject({}, { gold: { a: { sql: 'SELECT * FROM silver.peeple' } } }) });
    expect((await configFailure(project)).issues[0]).toMatchObject({ code: 'config_unknown_table', value: 'silver.peeple', hint: "Did you mean 'silver.people'?" });
    await project.dispose();

    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject({}, { gold: { a: { sql: 'SELECT * FROM gold.b' }, b: { sql: 'SELECT * FROM gold.c' }, c: { sql: 'SELECT * FROM gold.a' } } }),
    });
    const cycle = await configFailure(project);
    expect(cycle.code).toBe('config_cycle');
    expect(cycle.message).toContain('gold.a → gold.b → gold.c → gold.a');
  });

  it('reports a project file that does not load, and a directory without one, as usage/config errors', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': 'export default {' });
    const broken = await configFailure(project);
    expect(broken).toMatchObject({ kind: 'config', code: 'config_import_failed' });
    await project.dispose();
    project = TestProject.fromFiles(engine, { 'README.md': 'no project here' });
    expect(await configFailure(project)).toMatchObject({ kind: 'usage', code: 'project_file_missing' });
  });
});
