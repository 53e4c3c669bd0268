import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { peopleProject } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * Bad input never crashes and never disappears silently: a row that cannot be split is kept (as its raw line)
 * and quarantined as malformed_row; a file that cannot be read reliably is refused whole, with file and line.
 */
describe.each(ENGINES)('bad landing files on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  const bronzeStep = (report: Awaited<ReturnType<TestProject['run']>>) => report.steps.find((s) => s.step === 'bronze.people');

  it('quarantines ragged rows (too many or too few columns) and keeps their raw lines, with the right line numbers', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject(),
      'landing/people/a.csv': 'id,name\n1,Ann\n2,Bob,extra\n3,"multi\nline"\n4\n5,Eve\n',
    });
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(bronzeStep(report)?.files[0]).toMatchObject({ outcome: 'ingested', rows: 5, malformedRows: 2 });
    expect(await project.rows(`SELECT id, name, _source_row FROM silver.people ORDER BY id`)).toEqual([
      { id: 1, name: 'Ann', _source_row: 1 },
      { id: 3, name: 'multi\nline', _source_row: 3 },
      { id: 5, name: 'Eve', _source_row: 5 },
    ]);
    const quarantined = await project.rows(`SELECT _source_row, _reason, _detail, _raw_line FROM quarantine.people ORDER BY _source_row`);
    expect(quarantined).toEqual([
      { _source_row: 2, _reason: 'malformed_row', _detail: expect.stringMatching(/^line 3: .*Expected Number of Columns: 2 Found: 3/), _raw_line: '2,Bob,extra' },
      // Line 6, not 5: the quoted value of record 3 spans two lines.
      { _source_row: 4, _reason: 'malformed_row', _detail: expect.stringMatching(/^line 6: .*Found: 1/), _raw_line: '4' },
    ]);
    expect((await project.audit()).balanced).toBe(true);
  });

  it('refuses a file whose quote never closes, naming the line, ingests nothing from it, and takes the fixed file', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject(),
      'landing/people/a.csv': 'id,name\n1,Ann\n2,"Bob\n3,Cid\n',
      'landing/people/b.csv': 'id,name\n10,Zed\n',
    });
    const report = await project.run();
    expect(bronzeStep(report)?.files).toEqual([
      expect.objectContaining({ path: 'landing/people/a.csv', outcome: 'refused', line: 3, reason: expect.stringMatching(/quoted value opens on this line and never closes/) }),
      expect.objectContaining({ path: 'landing/people/b.csv', outcome: 'ingested', rows: 1 }),
    ]);
    expect(await project.rows(`SELECT DISTINCT _source_file FROM bronze.people`)).toEqual([{ _source_file: 'landing/people/b.csv' }]);
    expect((await project.audit()).refusedFiles).toEqual([{ source: 'people', path: 'landing/people/a.csv', reason: expect.stringMatching(/^line 3: /) }]);

    const again = await project.run();
    expect(bronzeStep(again)?.files[0]).toMatchObject({ outcome: 'still_refused' });

    project.write('landing/people/a.csv', 'id,name\n1,Ann\n2,"Bob"\n3,Cid\n');
    const fixed = await project.run();
    expect(bronzeStep(fixed)?.files[0]).toMatchObject({ path: 'landing/people/a.csv', outcome: 'ingested', rows: 3 });
    expect(await project.rows(`SELECT id FROM silver.people ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 10 }]);
    const audit = await project.audit();
    expect(audit.refusedFiles).toEqual([]);
    expect(audit.balanced).toBe(true);
  });

  it('refuses an empty file and a file missing a required column; takes a header-only file as zero rows', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject(),
      'landing/people/empty.csv': '',
      'landing/people/header-only.csv': 'id,name\n',
      'landing/people/no-name.csv': 'id,nom\n1,Ann\n',
    });
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(bronzeStep(report)?.files).toEqual([
      expect.objectContaining({ path: 'landing/people/empty.csv', outcome: 'refused', reason: expect.stringMatching(/empty/) }),
      expect.objectContaining({ path: 'landing/people/header-only.csv', outcome: 'ingested', rows: 0 }),
      expect.objectContaining({ path: 'landing/people/no-name.csv', outcome: 'refused', line: 1, reason: "missing required column 'name'; the file has 'id', 'nom'" }),
    ]);
    expect(await project.rows(`SELECT count(*) AS n FROM silver.people`)).toEqual([{ n: 0 }]);
  });

  it('quarantines a row with bytes that are not UTF-8, and reads the file right when told it is Latin-1', async () => {
    const latin1 = Buffer.concat([Buffer.from('id,name\n1,Ann\n2,'), Buffer.from([0x46, 0xe9, 0x6c, 0x69, 0x78]), Buffer.from('\n3,Cid\n')]);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject(), 'landing/people/a.csv': latin1 });
    await project.run();
    expect(await project.rows(`SELECT id FROM silver.people ORDER BY id`)).toEqual([{ id: 1 }, { id: 3 }]);
    expect(await project.rows(`SELECT _source_row, _reason, _detail, _raw_line FROM quarantine.people`)).toEqual([
      // The raw line keeps the byte the engine could not read, spelled out, instead of a '?'.
      { _source_row: 2, _reason: 'malformed_row', _detail: expect.stringMatching(/^line 3: .*not valid UTF-8.*latin-1/), _raw_line: '2,F\\xE9lix' },
    ]);
    await project.dispose();

    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject({ csv: { encoding: 'latin-1' } }), 'landing/people/a.csv': latin1 });
    const latin1Run = await project.run();
    expect(await project.rows(`SELECT id, name FROM silver.people ORDER BY id`)).toEqual([
      { id: 1, name: 'Ann' },
      { id: 2, name: 'Félix' },
      { id: 3, name: 'Cid' },
    ]);
    // A real Latin-1 file is read without a word of warning.
    expect(bronzeStep(latin1Run)?.files[0]?.warnings).toBeUndefined();
  });

  it('warns when a file declared Latin-1 is UTF-8, naming a word as written and as stored', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject({ csv: { encoding: 'latin-1' } }), 'landing/people/a.csv': 'id,name\n1,Ann\n2,José Núñez\n' });
    const report = await project.run();
    expect(bronzeStep(report)?.files[0]).toMatchObject({
      outcome: 'ingested',
      rows: 2,
      warnings: [expect.stringContaining("valid UTF-8: 'José' was stored as 'JosÃ©'. If the file is UTF-8, remove csv.encoding")],
    });
    // The rows are kept as read (nothing silently dropped); the warning says how to read them right.
    expect(await project.rows(`SELECT name FROM silver.people WHERE id = 2`)).toEqual([{ name: 'JosÃ© NÃºÃ±ez' }]);
  });

  it('handles a byte-order mark, CRLF line ends, blank lines, another delimiter and quoted delimiters', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject({ csv: { delimiter: ';' } }),
      'landing/people/a.csv': '\ufeffid;name\r\n1;"Smith; John"\r\n\r\n2;"say ""hi"""\r\n3;\r\n',
    });
    await project.run();
    expect(await project.rows(`SELECT id, name, _source_row FROM silver.people ORDER BY id`)).toEqual([
      { id: 1, name: 'Smith; John', _source_row: 1 },
      { id: 2, name: 'say "hi"', _source_row: 2 },
      { id: 3, name: null, _source_row: 3 },
    ]);
    // Bronze holds what the file says: the empty field is '' there, not NULL.
    expect(await project.rows(`SELECT name FROM bronze.people WHERE id = '3'`)).toEqual([{ name: '' }]);
  });

  it('refuses JSON that does not parse, naming the line; reads JSON arrays and JSON Lines as text', async () => {
    const config = peopleProject({ path: 'landing/people/*.json*' });
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': config.replace("\"path\": \"landing/people/*.json*\"", '"path": "landing/people/*.json", "format": "json"'),
      'landing/people/a.json': '[\n  {"id": 1, "name": "Ann", "tags": {"vip": true}},\n  {"id": "2", "name": "Bob"}\n]\n',
      'landing/people/b.json': '[\n  {"id": 3, "name": "Cid"},\n  {"id": 4, "name": \n]\n',
    });
    const report = await project.run();
    expect(bronzeStep(report)?.files).toEqual([
      expect.objectContaining({ path: 'landing/people/a.json', outcome: 'ingested', rows: 2 }),
      expect.objectContaining({ path: 'landing/people/b.json', outcome: 'refused', line: 4, reason: expect.stringMatching(/JSON does not parse/) }),
    ]);
    expect(await project.rows(`SELECT id, name, tags, _source_row FROM bronze.people ORDER BY _source_row`)).toEqual([
      { id: '1', name: 'Ann', tags: '{"vip":true}', _source_row: 1 },
      { id: '2', name: 'Bob', tags: null, _source_row: 2 },
    ]);
    await project.dispose();

    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': config.replace("\"path\": \"landing/people/*.json*\"", '"path": "landing/people/*.jsonl"'),
      'landing/people/a.jsonl': '{"id": 1, "name": "Ann"}\n{"id": 2, "name": "Bob"}\n',
      'landing/people/b.jsonl': '{"id": 3, "name": "Cid"}\n{"id": 4, "name": }\n{"id": 5}\n',
    });
    const jsonl = await project.run();
    expect(bronzeStep(jsonl)?.files).toEqual([
      expect.objectContaining({ path: 'landing/people/a.jsonl', outcome: 'ingested', rows: 2 }),
      expect.objectContaining({ path: 'landing/people/b.jsonl', outcome: 'refused', line: 2 }),
    ]);
  });

  it('refuses names that collide once case is ignored, in JSON keys and against lineage columns; takes an empty JSON array', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject({ path: 'landing/people/*.json', format: 'json', columns: [] }),
      'landing/people/a.json': '[{"id": 6, "name": "x", "ID": 7}]',
      'landing/people/b.json': '[]',
    });
    const report = await project.run();
    expect(bronzeStep(report)?.files).toEqual([
      expect.objectContaining({ path: 'landing/people/a.json', outcome: 'refused', reason: expect.stringMatching(/'id' and 'ID' differ only in case/) }),
      expect.objectContaining({ path: 'landing/people/b.json', outcome: 'ingested', rows: 0 }),
    ]);
    await project.dispose();
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': peopleProject(), 'landing/people/a.csv': 'id,name,_Batch_ID\n1,Ann,9\n' });
    const lineage = await project.run();
    expect(bronzeStep(lineage)?.files[0]).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/reserves for lineage/) });
  });

  it('reads Parquet with its own types and file row numbers', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': peopleProject({ path: 'landing/people/*.parquet' }),
      'landing/people/README.txt': 'Parquet files land here.',
    });
    const { warehouse } = await project.open();
    await warehouse.execute(`COPY (SELECT * FROM (VALUES (1, 'Ann'), (2, 'Bob'), (-1, 'Neg')) t(id, name)) TO '${project.dir}/landing/people/a.parquet' (FORMAT parquet)`);
    await project.run();
    expect(await project.rows(`SELECT id, name, _source_row FROM silver.people ORDER BY id`)).toEqual([
      { id: 1, name: 'Ann', _source_row: 1 },
      { id: 2, name: 'Bob', _source_row: 2 },
    ]);
    expect(await project.rows(`SELECT _reason FROM quarantine.people`)).toEqual([{ _reason: 'invalid_id' }]);
  });
});
