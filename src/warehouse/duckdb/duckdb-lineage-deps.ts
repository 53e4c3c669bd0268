import type { ColumnSource, LineageTransformation } from '../warehouse.js';

/**
 * What an expression depends on, as the lineage walker computes it: for each base-table column, the strongest
 * direct use (identity < transformation < aggregation) and the indirect ones (filter, join, ...).
 */

export type Direct = 'identity' | 'transformation' | 'aggregation';
export type Indirect = Exclude<LineageTransformation, Direct>;
const RANK: Record<Direct, number> = { identity: 0, transformation: 1, aggregation: 2 };

export interface Entry {
  readonly table: string;
  readonly column: string;
  readonly direct?: Direct;
  readonly indirect: ReadonlySet<Indirect>;
}
export type Deps = ReadonlyMap<string, Entry>;

export const EMPTY: Deps = new Map();
export const keyOf = (table: string, column: string): string => `${table}\u0000${column}`;

export function identity(table: string, column: string): Deps {
  return new Map([[keyOf(table, column), { table, column, direct: 'identity', indirect: new Set() }]]);
}

export function union(...all: Deps[]): Deps {
  const out = new Map<string, Entry>();
  for (const deps of all) {
    for (const [key, e] of deps) {
      const had = out.get(key);
      if (!had) out.set(key, e);
      else {
        const direct = had.direct && e.direct ? (RANK[had.direct] >= RANK[e.direct] ? had.direct : e.direct) : (had.direct ?? e.direct);
        out.set(key, { table: e.table, column: e.column, ...(direct ? { direct } : {}), indirect: new Set([...had.indirect, ...e.indirect]) });
      }
    }
  }
  return out;
}

export function mapDirect(deps: Deps, to: Direct): Deps {
  const out = new Map<string, Entry>();
  for (const [key, e] of deps) out.set(key, e.direct && RANK[e.direct] < RANK[to] ? { ...e, direct: to } : e);
  return out;
}

/** Everything the expression touches only decides rows or values: direct and indirect alike become `kind`. */
export function asIndirect(deps: Deps, kind: Indirect): Deps {
  const out = new Map<string, Entry>();
  for (const [key, e] of deps) out.set(key, { table: e.table, column: e.column, indirect: new Set([kind]) });
  return out;
}

/** Row dependencies keep their own kinds (a subquery's filter stays a filter for the query reading it). */
export function asIndirectKeepingKinds(deps: Deps): Deps {
  const out = new Map<string, Entry>();
  for (const [key, e] of deps) {
    const kinds = new Set(e.indirect);
    if (e.direct && kinds.size === 0) kinds.add('filter');
    out.set(key, { table: e.table, column: e.column, indirect: kinds });
  }
  return out;
}

/** The one plain column an expression is, if it is exactly one column passed through unchanged. */
export function single(deps: Deps): ColumnSource | undefined {
  if (deps.size !== 1) return undefined;
  const e = [...deps.values()][0] as Entry;
  return e.direct === 'identity' ? { table: e.table, column: e.column } : undefined;
}
