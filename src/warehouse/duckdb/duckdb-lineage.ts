import type { ColumnDependency, ColumnSource, SelectLineage } from '../warehouse.js';
import { asIndirect, asIndirectKeepingKinds, EMPTY, identity, mapDirect, single, union, type Deps } from './duckdb-lineage-deps.js';

/**
 * Column lineage from DuckDB's serialised parse tree (`json_serialize_sql`). Every expression evaluates to the set
 * of base-table columns it depends on, each marked direct (identity < transformation < aggregation: the strongest
 * wins) and/or indirect (filter, join, ...). Subqueries and CTEs are relations whose columns carry such sets, so
 * aliases, `*`, CTEs and nested queries resolve to the base tables they finally read.
 */

interface Column {
  readonly name: string;
  readonly deps: Deps;
}

interface Relation {
  readonly columns: readonly Column[];
  /** Indirect dependencies of every row (filters, joins, ...). */
  readonly rows: Deps;
  readonly equalities: readonly (readonly [ColumnSource, ColumnSource])[];
}

interface Binding {
  /** Lower-cased name the query refers to it by. */
  readonly alias: string;
  readonly table?: string;
  /** Undefined when unknown (a table outside the catalog): any name resolves to `table.name`. */
  readonly columns?: readonly Column[];
  /** A table function or other source without column lineage. */
  readonly opaque: boolean;
  /** Columns a USING/NATURAL join merged into the left side, hidden from `*`. */
  readonly hidden: Set<string>;
}

interface Scope {
  readonly bindings: Binding[];
  readonly parent?: Scope;
  readonly ctes: ReadonlyMap<string, Relation>;
  /** Select-list aliases seen so far (DuckDB lets later items, WHERE, GROUP BY and ORDER BY use them). */
  readonly aliases: Map<string, Deps>;
  readonly lambda: ReadonlySet<string>;
}

type Node = Record<string, unknown>;

const lower = (s: string): string => s.toLowerCase();
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): Node[] => (Array.isArray(v) ? v.filter(isNode) : []);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

function constantIndex(node: Node): number | undefined {
  if (node.class !== 'CONSTANT') return undefined;
  const value = (node.value as { value?: unknown } | undefined)?.value;
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

export class LineageWalker {
  readonly warnings: string[] = [];
  private readonly catalog = new Map<string, { key: string; columns: readonly string[] }>();

  constructor(
    tables: ReadonlyMap<string, readonly string[]>,
    private readonly aggregates: ReadonlySet<string>,
  ) {
    for (const [key, columns] of tables) this.catalog.set(lower(key), { key, columns });
  }

  /** The lineage of one statement's query node. */
  lineage(node: Node): SelectLineage {
    const rel = this.query(node, undefined, new Map());
    const toList = (deps: Deps, forceIndirect: boolean): ColumnDependency[] => {
      const out: ColumnDependency[] = [];
      for (const e of deps.values()) {
        if (e.direct && !forceIndirect) out.push({ table: e.table, column: e.column, kind: 'direct', transformation: e.direct });
        for (const t of [...e.indirect].sort()) out.push({ table: e.table, column: e.column, kind: 'indirect', transformation: t });
      }
      return out.sort((a, b) => a.table.localeCompare(b.table) || a.column.localeCompare(b.column) || a.kind.localeCompare(b.kind) || a.transformation.localeCompare(b.transformation));
    };
    return {
      columns: rel.columns.map((c) => ({ name: c.name, dependencies: toList(c.deps, false) })),
      rowDependencies: toList(asIndirectKeepingKinds(rel.rows), true),
      joinEqualities: rel.equalities,
      warnings: [...new Set(this.warnings)],
    };
  }

  private query(node: Node, outer: Scope | undefined, inherited: ReadonlyMap<string, Relation>): Relation {
    const ctes = new Map(inherited);
    for (const entry of list((node.cte_map as Node | undefined)?.map)) {
      const value = entry.value as Node;
      const name = lower(text(entry.key));
      const rel = this.query(((value.query as Node).node as Node), outer, ctes);
      ctes.set(name, renamed(rel, (value.aliases as string[] | undefined) ?? []));
    }
    switch (node.type) {
      case 'SELECT_NODE':
        return this.select(node, outer, ctes);
      case 'SET_OPERATION_NODE':
      case 'RECURSIVE_CTE_NODE': {
        const left = this.query(node.left as Node, outer, ctes);
        // A recursive CTE's second half reads the CTE itself: bind it to the first half.
        const scopeCtes = node.type === 'RECURSIVE_CTE_NODE' ? new Map([...ctes, [lower(text(node.cte_name)), renamed(left, (node.aliases as string[] | undefined) ?? [])]]) : ctes;
        const right = this.query(node.right as Node, outer, scopeCtes);
        const except = node.setop_type === 'EXCEPT';
        const byName = node.setop_type === 'UNION_BY_NAME';
        const partner = (c: Column, i: number): Deps => (byName ? right.columns.find((r) => lower(r.name) === lower(c.name)) : right.columns[i])?.deps ?? EMPTY;
        const columns = left.columns.map((c, i) => ({ name: c.name, deps: except ? c.deps : union(c.deps, partner(c, i)) }));
        if (byName) columns.push(...right.columns.filter((r) => !left.columns.some((c) => lower(c.name) === lower(r.name))));
        const exceptRows = except ? asIndirect(union(...right.columns.map((c) => c.deps)), 'filter') : EMPTY;
        const rows = union(left.rows, right.rows, exceptRows);
        const sorted = this.modifiers(node, { bindings: [], ctes, aliases: new Map(), lambda: new Set(), ...(outer ? { parent: outer } : {}) }, columns);
        return { columns, rows: union(rows, sorted), equalities: [...left.equalities, ...right.equalities] };
      }
      default:
        this.warnings.push(`a ${String(node.type)} query is not analysed`);
        return { columns: [], rows: EMPTY, equalities: [] };
    }
  }

  private select(node: Node, outer: Scope | undefined, ctes: ReadonlyMap<string, Relation>): Relation {
    const scope: Scope = { bindings: [], ctes, aliases: new Map(), lambda: new Set(), ...(outer ? { parent: outer } : {}) };
    const state = { rows: EMPTY, equalities: [] as (readonly [ColumnSource, ColumnSource])[] };
    if (isNode(node.from_table)) this.from(node.from_table, scope, state);
    if (isNode(node.where_clause)) state.rows = union(state.rows, asIndirect(this.expr(node.where_clause, scope), 'filter'));

    const columns: Column[] = [];
    for (const item of list(node.select_list)) {
      if (item.class === 'STAR' && !isNode(item.expr)) {
        columns.push(...this.star(item, scope));
        continue;
      }
      if (item.class === 'STAR') {
        columns.push(...this.columnsRegex(item, scope));
        continue;
      }
      const deps = this.expr(item, scope);
      const alias = text(item.alias);
      const names = item.class === 'COLUMN_REF' ? (item.column_names as string[]) : [];
      columns.push({ name: alias || names[names.length - 1] || '', deps });
      if (alias) scope.aliases.set(lower(alias), deps);
    }

    const byPosition = (n: Node): Deps | undefined => {
      const i = constantIndex(n);
      return i === undefined ? undefined : columns[i - 1]?.deps;
    };
    if (node.aggregate_handling === 'FORCE_AGGREGATES') {
      for (const c of columns) if (![...c.deps.values()].some((e) => e.direct === 'aggregation')) state.rows = union(state.rows, asIndirect(c.deps, 'group_by'));
    }
    for (const g of list(node.group_expressions)) state.rows = union(state.rows, asIndirect(byPosition(g) ?? this.expr(g, scope), 'group_by'));
    if (isNode(node.having)) state.rows = union(state.rows, asIndirect(this.expr(node.having, scope), 'filter'));
    if (isNode(node.qualify)) state.rows = union(state.rows, asIndirect(this.expr(node.qualify, scope), 'filter'));
    state.rows = union(state.rows, this.modifiers(node, scope, columns));
    return { columns, rows: state.rows, equalities: state.equalities };
  }

  /** ORDER BY (sort) and DISTINCT ON (group_by): by position, by output name, or by expression. */
  private modifiers(node: Node, scope: Scope, columns: readonly Column[]): Deps {
    let rows = EMPTY;
    const target = (e: Node): Deps => {
      if (e.class === 'STAR') return union(...columns.map((c) => c.deps));
      const i = constantIndex(e);
      if (i !== undefined) return columns[i - 1]?.deps ?? EMPTY;
      const names = e.class === 'COLUMN_REF' ? (e.column_names as string[]) : [];
      const named = names.length === 1 ? columns.find((c) => lower(c.name) === lower(names[0] as string)) : undefined;
      return named ? named.deps : this.expr(e, scope);
    };
    for (const m of list(node.modifiers)) {
      if (m.type === 'ORDER_MODIFIER') for (const o of list(m.orders)) rows = union(rows, asIndirect(target(o.expression as Node), 'sort'));
      if (m.type === 'DISTINCT_MODIFIER') for (const d of list(m.distinct_on_targets)) rows = union(rows, asIndirect(target(d), 'group_by'));
    }
    return rows;
  }

  private from(t: Node, scope: Scope, state: { rows: Deps; equalities: (readonly [ColumnSource, ColumnSource])[] }): void {
    const alias = lower(text(t.alias));
    const renames = (t.column_name_alias as string[] | undefined) ?? [];
    switch (t.type) {
      case 'BASE_TABLE': {
        const schema = text(t.schema_name);
        const name = text(t.table_name);
        const cte = schema === '' ? scope.ctes.get(lower(name)) : undefined;
        if (cte) {
          state.rows = union(state.rows, cte.rows);
          state.equalities.push(...cte.equalities);
          scope.bindings.push({ alias: alias || lower(name), columns: renamed(cte, renames).columns, opaque: false, hidden: new Set() });
          return;
        }
        const qualified = schema ? `${schema}.${name}` : name;
        const known = this.catalog.get(lower(qualified));
        if (!known) {
          this.warnings.push(`'${qualified}' is not a table Refinery knows: its columns are taken as written`);
          scope.bindings.push({ alias: alias || lower(name), table: qualified, opaque: false, hidden: new Set() });
          return;
        }
        const columns = known.columns.map((c, i) => ({ name: renames[i] ?? c, deps: identity(known.key, c) }));
        scope.bindings.push({ alias: alias || lower(name), table: known.key, columns, opaque: false, hidden: new Set() });
        return;
      }
      case 'SUBQUERY': {
        // LATERAL subqueries may read the tables to their left, so they see the bindings made so far.
        const lateral: Scope = { ...scope, bindings: [...scope.bindings], aliases: new Map() };
        const rel = this.query(((t.subquery as Node).node as Node), lateral, scope.ctes);
        state.rows = union(state.rows, rel.rows);
        state.equalities.push(...rel.equalities);
        scope.bindings.push({ alias: alias || 'unnamed_subquery', columns: renamed(rel, renames).columns, opaque: false, hidden: new Set() });
        return;
      }
      case 'JOIN': {
        this.from(t.left as Node, scope, state);
        const leftCount = scope.bindings.length;
        this.from(t.right as Node, scope, state);
        const left = scope.bindings.slice(0, leftCount);
        const right = scope.bindings.slice(leftCount);
        if (isNode(t.condition)) {
          state.rows = union(state.rows, asIndirect(this.expr(t.condition, scope), 'join'));
          this.equalities(t.condition, scope, state.equalities);
        }
        let using = ((t.using_columns as string[] | undefined) ?? []).map(lower);
        if (t.ref_type === 'NATURAL') {
          const names = (bs: Binding[]): Set<string> => new Set(bs.flatMap((b) => (b.columns ?? []).map((c) => lower(c.name))));
          const r = names(right);
          using = [...names(left)].filter((n) => r.has(n));
        }
        for (const column of using) {
          const l = this.lookup(left, column);
          const r = this.lookup(right, column);
          state.rows = union(state.rows, asIndirect(union(l ?? EMPTY, r ?? EMPTY), 'join'));
          const a = l && single(l);
          const b = r && single(r);
          if (a && b) state.equalities.push([a, b]);
          for (const b2 of right) b2.hidden.add(column);
        }
        return;
      }
      case 'EXPRESSION_LIST': {
        const rowsOfValues = Array.isArray(t.values) ? (t.values as unknown[][]) : [];
        const width = rowsOfValues[0]?.length ?? 0;
        const columns = Array.from({ length: width }, (_, i) => ({
          name: renames[i] ?? `col${i}`,
          deps: mapDirect(union(...rowsOfValues.map((r) => (isNode(r[i]) ? this.expr(r[i], scope) : EMPTY))), 'transformation'),
        }));
        scope.bindings.push({ alias: alias || 'valueslist', columns, opaque: false, hidden: new Set() });
        return;
      }
      case 'EMPTY':
        return;
      default: {
        const fn = t.type === 'TABLE_FUNCTION' ? text((t.function as Node | undefined)?.function_name) : '';
        this.warnings.push(fn ? `table function ${fn}() has no column lineage` : `a ${String(t.type)} in FROM is not analysed`);
        scope.bindings.push({ alias: alias || lower(fn), opaque: true, hidden: new Set() });
      }
    }
  }

  /** `a = b` between two plain columns, anywhere under AND: the pair is equal in every joined row. */
  private equalities(condition: Node, scope: Scope, out: (readonly [ColumnSource, ColumnSource])[]): void {
    if (condition.class === 'CONJUNCTION' && condition.type === 'CONJUNCTION_AND') {
      for (const c of list(condition.children)) this.equalities(c, scope, out);
    } else if (condition.type === 'COMPARE_EQUAL' && isNode(condition.left) && isNode(condition.right)) {
      const a = single(this.expr(condition.left, scope));
      const b = single(this.expr(condition.right, scope));
      if (a && b) out.push([a, b]);
    }
  }

  private star(item: Node, scope: Scope): Column[] {
    const relation = lower(text(item.relation_name));
    const bindings = relation ? scope.bindings.filter((b) => b.alias === relation) : scope.bindings;
    const excluded = new Set(((item.exclude_list as unknown[] | undefined) ?? []).map((e) => lower(typeof e === 'string' ? e : text((e as Node).name ?? (e as Node).column_name))));
    const replaced = new Map(list(item.replace_list).map((r) => [lower(text(r.key)), r.value as Node]));
    const out: Column[] = [];
    for (const b of bindings) {
      if (b.opaque) continue;
      if (!b.columns) {
        this.warnings.push(`cannot expand * over ${b.table ?? b.alias}: its columns are unknown`);
        continue;
      }
      for (const c of b.columns) {
        const n = lower(c.name);
        if (excluded.has(n) || (!relation && b.hidden.has(n))) continue;
        const replacement = replaced.get(n);
        out.push({ name: c.name, deps: replacement ? this.expr(replacement, scope) : c.deps });
      }
    }
    return out;
  }

  /** `COLUMNS('regex')`: the matching columns of every table in scope. */
  private columnsRegex(item: Node, scope: Scope): Column[] {
    const pattern = (item.expr as Node).class === 'CONSTANT' ? String(((item.expr as Node).value as Node).value) : undefined;
    const all = this.star({ ...item, expr: undefined }, scope);
    if (pattern === undefined) {
      this.warnings.push('COLUMNS(<lambda>) is taken as every column');
      return all;
    }
    const re = new RegExp(pattern);
    return all.filter((c) => re.test(c.name));
  }

  private lookup(bindings: readonly Binding[], column: string): Deps | undefined {
    for (const b of bindings) {
      const c = b.columns?.find((x) => lower(x.name) === column);
      if (c) return c.deps;
    }
    return undefined;
  }

  private resolve(names: readonly string[], scope: Scope): Deps {
    const n = names.map(lower);
    const [first, second, third] = n;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (n.length === 1 && s.lambda.has(first as string)) return EMPTY;
      if (second !== undefined) {
        const b = s.bindings.find((x) => x.alias === first);
        if (b) return this.columnOf(b, names[1] as string, names);
        const qualified = third !== undefined ? s.bindings.find((x) => x.table !== undefined && lower(x.table) === `${first}.${second}`) : undefined;
        if (qualified) return this.columnOf(qualified, names[2] as string, names);
      }
      // Unqualified, or a struct field of an unqualified column (`s.f`).
      const found = this.lookup(s.bindings, first as string);
      if (found) return found;
      const alias = s.aliases.get(first as string);
      if (alias) return alias;
    }
    const unknown = scope.bindings.filter((b) => !b.columns && !b.opaque);
    if (unknown.length === 1 && unknown[0]?.table) return identity(unknown[0].table, names[0] as string);
    if (scope.bindings.some((b) => b.opaque)) return EMPTY;
    this.warnings.push(`could not tell where column '${names.join('.')}' comes from`);
    return EMPTY;
  }

  private columnOf(b: Binding, column: string, names: readonly string[]): Deps {
    if (b.opaque) return EMPTY;
    if (!b.columns) return b.table ? identity(b.table, column) : EMPTY;
    const c = b.columns.find((x) => lower(x.name) === lower(column));
    if (c) return c.deps;
    this.warnings.push(`'${names.join('.')}' names no column of ${b.table ?? b.alias}`);
    return EMPTY;
  }

  private expr(node: Node, scope: Scope): Deps {
    const children = (v: unknown): Deps => union(...list(v).map((c) => this.expr(c, scope)));
    switch (node.class) {
      case 'COLUMN_REF':
        return this.resolve(node.column_names as string[], scope);
      case 'CONSTANT':
      case 'PARAMETER':
      case 'DEFAULT':
        return EMPTY;
      case 'FUNCTION': {
        const name = lower(text(node.function_name));
        const filter = isNode(node.filter) ? asIndirect(this.expr(node.filter, scope), 'filter') : EMPTY;
        const orders = list((node.order_bys as Node | undefined)?.orders).map((o) => this.expr(o.expression as Node, scope));
        const args = union(children(node.children), ...orders);
        return union(mapDirect(args, this.aggregates.has(name) ? 'aggregation' : 'transformation'), filter);
      }
      case 'WINDOW': {
        const args = union(children(node.children), ...['offset_expr', 'default_expr'].map((k) => (isNode(node[k]) ? this.expr(node[k] as Node, scope) : EMPTY)));
        const window = union(children(node.partitions), ...list(node.orders).map((o) => this.expr(o.expression as Node, scope)));
        const filter = isNode(node.filter_expr) ? asIndirect(this.expr(node.filter_expr, scope), 'filter') : EMPTY;
        return union(mapDirect(args, node.type === 'WINDOW_AGGREGATE' ? 'aggregation' : 'transformation'), asIndirect(window, 'window'), filter);
      }
      case 'CASE': {
        const parts: Deps[] = [];
        for (const check of list(node.case_checks)) {
          parts.push(asIndirect(this.expr(check.when_expr as Node, scope), 'conditional'), mapDirect(this.expr(check.then_expr as Node, scope), 'transformation'));
        }
        if (isNode(node.else_expr)) parts.push(mapDirect(this.expr(node.else_expr, scope), 'transformation'));
        return union(...parts);
      }
      case 'SUBQUERY': {
        const inner: Scope = { bindings: [], parent: scope, ctes: scope.ctes, aliases: new Map(), lambda: new Set() };
        const rel = this.query(((node.subquery as Node).node as Node), inner, scope.ctes);
        const all = union(...rel.columns.map((c) => c.deps));
        if (node.subquery_type === 'SCALAR') return union(rel.columns[0]?.deps ?? EMPTY, asIndirectKeepingKinds(rel.rows));
        const decided = asIndirect(union(all, rel.rows), 'conditional');
        return isNode(node.child) ? union(mapDirect(this.expr(node.child, scope), 'transformation'), decided) : decided;
      }
      case 'LAMBDA': {
        const params = lambdaParams(node.lhs);
        return this.expr(node.expr as Node, { ...scope, lambda: new Set([...scope.lambda, ...params]) });
      }
      case 'STAR':
        return mapDirect(union(...this.star(node, scope).map((c) => c.deps)), 'transformation');
      default: {
        // Operators, casts, comparisons, BETWEEN, COLLATE, ...: the value is computed from every operand.
        const operands: Deps[] = [];
        for (const value of Object.values(node)) {
          if (isNode(value) && typeof value.class === 'string') operands.push(this.expr(value, scope));
          else operands.push(children(value));
        }
        return mapDirect(union(...operands), 'transformation');
      }
    }
  }
}

function renamed(rel: Relation, names: readonly string[]): Relation {
  if (names.length === 0) return rel;
  return { ...rel, columns: rel.columns.map((c, i) => ({ name: names[i] ?? c.name, deps: c.deps })) };
}

function lambdaParams(lhs: unknown): string[] {
  if (!isNode(lhs)) return [];
  if (lhs.class === 'COLUMN_REF') return (lhs.column_names as string[]).map(lower);
  return list(lhs.children).flatMap(lambdaParams);
}
