import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { LineageEdge } from './column-lineage.js';

/**
 * OpenLineage (spec 2-0-2) RunEvents as plain objects. Each facet names the published schema it follows in
 * `_schemaURL`, so a consumer (or our tests) can validate it; the builders here only shape data, they read nothing.
 */

const SPEC = 'https://openlineage.io/spec';
export const RUN_EVENT_SCHEMA = `${SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent`;
export const FACET_SCHEMAS = {
  parent: `${SPEC}/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet`,
  errorMessage: `${SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet`,
  sql: `${SPEC}/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet`,
  schema: `${SPEC}/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet`,
  columnLineage: `${SPEC}/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet`,
  dataQualityMetrics: `${SPEC}/facets/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet`,
  dataQualityMetricsInput: `${SPEC}/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet`,
  dataQualityAssertions: `${SPEC}/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet`,
  outputStatistics: `${SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet`,
} as const;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
/** Who produced the events: this package and its version. */
export const PRODUCER = `urn:refinery:${version}`;

export type EventType = 'START' | 'COMPLETE' | 'FAIL' | 'ABORT';
export type Facet = Record<string, unknown> & { readonly _producer: string; readonly _schemaURL: string };

export interface OLDataset {
  readonly namespace: string;
  readonly name: string;
  readonly facets?: Record<string, Facet>;
  readonly inputFacets?: Record<string, Facet>;
  readonly outputFacets?: Record<string, Facet>;
}

export interface RunEvent {
  readonly eventType: EventType;
  readonly eventTime: string;
  readonly producer: string;
  readonly schemaURL: string;
  readonly run: { readonly runId: string; readonly facets?: Record<string, Facet> };
  readonly job: { readonly namespace: string; readonly name: string; readonly facets?: Record<string, Facet> };
  readonly inputs: readonly OLDataset[];
  readonly outputs: readonly OLDataset[];
}

export function facet(kind: keyof typeof FACET_SCHEMAS, body: Record<string, unknown>): Facet {
  return { _producer: PRODUCER, _schemaURL: FACET_SCHEMAS[kind], ...body };
}

/**
 * A UUID derived from its parts, so a run's events can be re-derived (and joined) from the run record alone.
 * Formatted as version 5 with the RFC 4122 variant.
 */
export function stableUuid(...parts: readonly string[]): string {
  const bytes = createHash('sha256').update(parts.join('\u0000')).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function runEvent(input: {
  eventType: EventType;
  at: Date;
  runId: string;
  job: { namespace: string; name: string; facets?: Record<string, Facet> };
  runFacets?: Record<string, Facet>;
  inputs?: readonly OLDataset[];
  outputs?: readonly OLDataset[];
}): RunEvent {
  return {
    eventType: input.eventType,
    eventTime: input.at.toISOString(),
    producer: PRODUCER,
    schemaURL: RUN_EVENT_SCHEMA,
    run: { runId: input.runId, ...(input.runFacets && Object.keys(input.runFacets).length > 0 ? { facets: input.runFacets } : {}) },
    job: input.job,
    inputs: input.inputs ?? [],
    outputs: input.outputs ?? [],
  };
}

export function parentFacet(parent: { runId: string; namespace: string; name: string }): Facet {
  return facet('parent', { run: { runId: parent.runId }, job: { namespace: parent.namespace, name: parent.name } });
}

export function schemaFacet(columns: readonly { name: string; type: string }[]): Facet {
  return facet('schema', { fields: columns.map((c) => ({ name: c.name, type: c.type })) });
}

/**
 * The columnLineage facet of one output dataset. Edges into `<dataset>.<column>` become that field's input
 * fields; edges into `<dataset>.*` (filters, joins, keys) go to `dataset`, which the facet keeps for exactly those.
 * `locate` turns an edge's `<dataset>.<column>` into the dataset's OpenLineage identity and the field.
 */
export function columnLineageFacet(dataset: string, edges: readonly LineageEdge[], locate: (node: string) => { namespace: string; name: string; field: string } | undefined): Facet | undefined {
  const fields: Record<string, { inputFields: unknown[] }> = {};
  const whole = new Map<string, { namespace: string; name: string; field: string; transformations: unknown[] }>();
  const add = (list: Map<string, { namespace: string; name: string; field: string; transformations: unknown[] }>, edge: LineageEdge): void => {
    const from = locate(edge.from);
    if (!from) return;
    const key = `${from.namespace}|${from.name}|${from.field}`;
    const entry = list.get(key) ?? { ...from, transformations: [] };
    entry.transformations.push({ type: edge.kind.toUpperCase(), subtype: edge.transformation.toUpperCase(), ...(edge.description ? { description: edge.description } : {}), masking: false });
    list.set(key, entry);
  };
  const perField = new Map<string, Map<string, { namespace: string; name: string; field: string; transformations: unknown[] }>>();
  for (const edge of edges) {
    if (edge.to === `${dataset}.*`) add(whole, edge);
    else if (edge.to.startsWith(`${dataset}.`)) {
      const field = edge.to.slice(dataset.length + 1);
      const list = perField.get(field) ?? new Map();
      add(list, edge);
      perField.set(field, list);
    }
  }
  for (const [field, list] of perField) fields[field] = { inputFields: [...list.values()] };
  if (Object.keys(fields).length === 0 && whole.size === 0) return undefined;
  return facet('columnLineage', { fields, ...(whole.size > 0 ? { dataset: [...whole.values()] } : {}) });
}
