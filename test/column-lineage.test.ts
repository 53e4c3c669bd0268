import { afterEach, describe, expect, it } from 'vitest';
import { buildLineageGraph, type LineageEdge, type LineageGraph } from '../src/lineage/column-lineage.js';
import { walkColumns } from '../src/lineage/lineage-graph.js';
import { refinery } from './helpers/cli.js';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

const GOLD_COLUMNS = ['customer_id', 'name', 'email', 'status', 'country', 'signup_date', 'order_count', 'total_spend', 'last_order_date', 'segment'];

/** The edges between two nodes, as `kind/transformation`, sorted. */
function links(graph: LineageGraph, from: string, to: string): string[] {
  return graph.edges.filter((e) => e.from === from && e.to === to).map((e) => `${e.kind}/${e.transformation}`).sort();
}

const upstreamSources = (edges: readonly LineageEdge[]): Set<string> => new Set(edges.map((e) => e.from));

describe.each(ENGINES)('column lineage on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  it('follows every column of gold.customer_360 down to bronze and the landing files', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    const { plan, warehouse } = await project.open();
    const graph = await buildLineageGraph(plan, warehouse);
    expect(graph.warnings).toEqual([]);
    expect(graph.datasets.find((d) => d.name === 'gold.customer_360')?.columns).toEqual(GOLD_COLUMNS);

    // gold ← silver, parsed from the model's SQL.
    for (const c of ['customer_id', 'name', 'email', 'status', 'country', 'signup_date']) {
      expect(links(graph, `silver.customers.${c}`, `gold.customer_360.${c}`)).toEqual(['direct/identity']);
    }
    expect(links(graph, 'silver.orders.order_id', 'gold.customer_360.order_count')).toEqual(['direct/aggregation']);
    expect(links(graph, 'silver.orders.amount', 'gold.customer_360.total_spend')).toEqual(['direct/aggregation']);
    expect(links(graph, 'silver.orders.order_date', 'gold.customer_360.last_order_date')).toEqual(['direct/aggregation']);
    expect(links(graph, 'silver.orders.amount', 'gold.customer_360.segment')).toEqual(['indirect/conditional']);
    expect(links(graph, 'silver.orders.customer_id', 'gold.customer_360.*')).toEqual(['indirect/join']);
    expect(links(graph, 'silver.customers.customer_id', 'gold.customer_360.*')).toEqual(['indirect/group_by', 'indirect/join', 'indirect/sort']);
    expect(links(graph, 'silver.customers.country', 'gold.customer_360.*')).toEqual(['indirect/group_by']);

    // silver ← bronze, from the plan: cleaning rules and types make a transformation; checks filter; key and latest dedupe.
    expect(links(graph, 'bronze.orders.amount', 'silver.orders.amount')).toEqual(['direct/transformation']);
    expect(graph.edges.find((e) => e.from === 'bronze.orders.amount' && e.to === 'silver.orders.amount')?.description).toBe('trim surrounding white space; as decimal(12,2)');
    expect(links(graph, 'bronze.customers.email', 'silver.customers.*')).toEqual(['indirect/filter']);
    expect(links(graph, 'bronze.customers.customer_id', 'silver.customers.*')).toEqual(['indirect/dedupe', 'indirect/filter']);
    expect(links(graph, 'bronze.customers.updated_at', 'silver.customers.*')).toEqual(['indirect/dedupe']);
    expect(links(graph, 'bronze.customers.signup_date', 'silver.customers.*')).toEqual([]); // a warn check keeps the row
    expect(links(graph, 'silver.customers.customer_id', 'silver.orders.*')).toEqual(['indirect/filter']); // references check
    // quarantine keeps raw values; the checks' columns decide its rows and its reason.
    expect(links(graph, 'bronze.customers.email', 'quarantine.customers.email')).toEqual(['direct/identity']);
    expect(links(graph, 'bronze.customers.email', 'quarantine.customers._reason')).toEqual(['direct/transformation']);
    expect(links(graph, 'bronze.customers.email', 'quarantine.customers.*')).toEqual(['indirect/filter']);

    // bronze ← landing, as received.
    expect(links(graph, 'landing/orders/*.csv.amount', 'bronze.orders.amount')).toEqual(['direct/identity']);

    // Transitively, every gold column reaches a landing file; its direct chain ends at the column of the same origin.
    for (const column of GOLD_COLUMNS) {
      const sources = upstreamSources(walkColumns(graph, 'gold.customer_360', column, 'upstream'));
      expect([...sources].some((s) => s.startsWith('landing/')), column).toBe(true);
    }
    const spend = walkColumns(graph, 'gold.customer_360', 'total_spend', 'upstream', true).map((e) => `${e.from} → ${e.to}`);
    expect(spend).toEqual(['silver.orders.amount → gold.customer_360.total_spend', 'bronze.orders.amount → silver.orders.amount', 'landing/orders/*.csv.amount → bronze.orders.amount']);

    // Downstream: a bronze column used by a check reaches every gold column through silver.orders.*.
    const downstream = walkColumns(graph, 'bronze.orders', 'order_date', 'downstream').map((e) => e.to);
    expect(downstream).toContain('silver.orders.order_date');
    expect(downstream).toContain('gold.customer_360.last_order_date');
    expect(downstream).toContain('gold.customer_360.total_spend');
  });

  it('is known from the project file before anything has run', async () => {
    project = TestProject.fromTemplate(engine);
    const { plan, warehouse } = await project.open();
    const graph = await buildLineageGraph(plan, warehouse);
    expect(graph.datasets.find((d) => d.name === 'gold.customer_360')?.columns).toEqual(GOLD_COLUMNS);
    expect(links(graph, 'silver.orders.amount', 'gold.customer_360.total_spend')).toEqual(['direct/aggregation']);
    expect(links(graph, 'landing/customers/*.csv.email', 'bronze.customers.email')).toEqual(['direct/identity']);
  });

  it('resolves CTEs, subqueries, aliases, *, CASE, windows and SQL columns', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'shop',
        sources: { people: { path: 'landing/people/*.csv' }, sales: { path: 'landing/sales/*.csv' } },
        silver: {
          people: {
            columns: { id: { type: 'integer' }, first: { clean: ['trim'] }, last: {}, full_name: { sql: `first || ' ' || last` }, region: { clean: ['upper'] } },
            key: 'id',
          },
          sales: { columns: { sale_id: { type: 'integer' }, person_id: { type: 'integer' }, amount: { type: 'double' }, sold_on: { type: 'date' } } },
        },
        gold: {
          person_spend: {
            sql: `
              WITH totals AS (
                SELECT person_id, sum(amount) AS spent, count(*) AS n FROM silver.sales WHERE amount > 0 GROUP BY person_id
              ), ranked AS (
                SELECT t.*, rank() OVER (ORDER BY spent DESC) AS place FROM totals t
              )
              SELECT p.id AS person, upper(p.full_name) AS shout, r.spent, r.n,
                CASE WHEN r.place <= 3 THEN 'top' WHEN p.region = 'EU' THEN p.region ELSE 'rest' END AS tier,
                (SELECT max(s.sold_on) FROM silver.sales s WHERE s.person_id = p.id) AS last_sale,
                x.*
              FROM silver.people p
              JOIN ranked r ON r.person_id = p.id
              JOIN (SELECT id, last AS family FROM silver.people WHERE region <> 'XX') x USING (id)
              ORDER BY tier`,
          },
          top_people: { sql: `SELECT person, spent * 2 AS double_spent FROM gold.person_spend WHERE tier = 'top'` },
        },
      }),
      'landing/people/p.csv': 'id,first,last,region\n1,Ada,Lovelace,eu\n2,Alan,Turing,uk\n',
      'landing/sales/s.csv': 'sale_id,person_id,amount,sold_on\n10,1,5.5,2024-01-02\n11,2,7,2024-01-03\n',
    });
    expect((await project.run()).status).toBe('success');
    const { plan, warehouse } = await project.open();
    const graph = await buildLineageGraph(plan, warehouse);
    expect(graph.warnings).toEqual([]);
    const g = 'gold.person_spend';
    expect(graph.datasets.find((d) => d.name === g)?.columns).toEqual(['person', 'shout', 'spent', 'n', 'tier', 'last_sale', 'id', 'family']);
    expect(links(graph, 'silver.people.id', `${g}.person`)).toEqual(['direct/identity']);
    expect(links(graph, 'silver.people.full_name', `${g}.shout`)).toEqual(['direct/transformation']);
    expect(links(graph, 'silver.sales.amount', `${g}.spent`)).toEqual(['direct/aggregation']); // through two CTEs and t.*
    expect(links(graph, 'silver.sales.person_id', `${g}.n`)).toEqual([]); // count(*) reads no column
    expect(links(graph, 'silver.people.region', `${g}.tier`)).toEqual(['direct/transformation', 'indirect/conditional']);
    expect(links(graph, 'silver.sales.amount', `${g}.tier`)).toEqual(['indirect/conditional']); // via the window's rank
    expect(links(graph, 'silver.sales.sold_on', `${g}.last_sale`)).toEqual(['direct/aggregation']);
    expect(links(graph, 'silver.sales.person_id', `${g}.last_sale`)).toEqual(['indirect/filter']); // correlated subquery
    expect(links(graph, 'silver.people.last', `${g}.family`)).toEqual(['direct/identity']); // subquery alias, then *
    expect(links(graph, 'silver.sales.amount', `${g}.*`)).toEqual(['indirect/filter', 'indirect/sort']); // CTE WHERE; ORDER BY tier
    expect(links(graph, 'silver.sales.person_id', `${g}.*`)).toEqual(['indirect/group_by', 'indirect/join']);
    expect(links(graph, 'silver.people.region', `${g}.*`)).toEqual(['indirect/filter', 'indirect/sort']);
    // A gold model over gold, and a silver column computed by SQL over two raw columns.
    expect(links(graph, `${g}.spent`, 'gold.top_people.double_spent')).toEqual(['direct/transformation']);
    expect(links(graph, `${g}.tier`, 'gold.top_people.*')).toEqual(['indirect/filter']);
    expect(links(graph, 'bronze.people.first', 'silver.people.full_name')).toEqual(['direct/transformation']);
    expect(links(graph, 'bronze.people.last', 'silver.people.full_name')).toEqual(['direct/transformation']);
    expect(links(graph, 'bronze.people.last', 'silver.people.last')).toEqual(['direct/identity']);
    const sources = upstreamSources(walkColumns(graph, 'gold.top_people', 'double_spent', 'upstream'));
    expect(sources).toContain('landing/sales/*.csv.amount');
  });

  it('answers refinery lineage in words and as JSON, and names unknown tables and columns', () => {
    project = TestProject.fromTemplate(engine);
    expect(refinery(['run'], { cwd: project.dir }).code).toBe(0);
    const json = refinery(['lineage', 'gold.customer_360.total_spend', '--json'], { cwd: project.dir });
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { direction: string; edges: { from: string; to: string; kind: string; transformation: string }[]; tables: { from: string; to: string }[] };
    expect(out.direction).toBe('upstream');
    expect(out.edges).toContainEqual(expect.objectContaining({ from: 'silver.orders.amount', to: 'gold.customer_360.total_spend', kind: 'direct', transformation: 'aggregation' }));
    expect(out.edges).toContainEqual(expect.objectContaining({ from: 'silver.orders.customer_id', to: 'gold.customer_360.*', kind: 'indirect', transformation: 'join' }));
    expect(out.edges).toContainEqual(expect.objectContaining({ from: 'landing/orders/*.csv.amount', to: 'bronze.orders.amount', kind: 'direct', transformation: 'identity' }));
    expect(out.tables).toContainEqual(expect.objectContaining({ from: 'landing/customers/*.csv', to: 'bronze.customers' }));

    const human = refinery(['lineage', 'gold.customer_360.total_spend'], { cwd: project.dir });
    expect(human.stdout).toContain('└─ silver.orders.amount  aggregation');
    expect(human.stdout).toContain('amount in landing/orders/*.csv  identity');
    expect(human.stdout).toContain('join: silver.customers.customer_id, silver.orders.customer_id');

    const down = JSON.parse(refinery(['lineage', 'silver.orders.amount', '--downstream', '--json'], { cwd: project.dir }).stdout) as { edges: { to: string }[] };
    expect(down.edges.map((e) => e.to).sort()).toEqual(['gold.customer_360.segment', 'gold.customer_360.total_spend']);

    const table = refinery(['lineage', 'gold.customer_36'], { cwd: project.dir });
    expect(table.code).toBe(2);
    expect(table.stderr).toContain("There is no table 'gold.customer_36'");
    expect(table.stderr).toContain("Did you mean 'gold.customer_360'?");
    const column = refinery(['lineage', 'gold.customer_360.total_spent', '--json'], { cwd: project.dir });
    expect(column.code).toBe(2);
    expect(JSON.parse(column.stdout).error).toMatchObject({ code: 'unknown_column', table: 'gold.customer_360', column: 'total_spent', hint: "Did you mean 'gold.customer_360.total_spend'?" });
  });
});

describe('the aggregate functions column lineage knows', () => {
  it('are exactly the installed DuckDB aggregates (regenerate src/warehouse/duckdb/duckdb-aggregates.ts after an upgrade)', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const { DUCKDB_AGGREGATES } = await import('../src/warehouse/duckdb/duckdb-aggregates.js');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const live = (await connection.runAndReadAll(`SELECT DISTINCT lower(function_name) AS name FROM duckdb_functions() WHERE function_type = 'aggregate' ORDER BY 1`)).getRowObjectsJson().map((r) => String(r.name));
      expect([...DUCKDB_AGGREGATES].sort()).toEqual(live);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
