/**
 * Refinery's public API: what a project file imports (`defineProject` and its types) and what programs use to
 * run projects from code.
 */
export { defineProject } from './config/define-project.js';
export type {
  CheckAction,
  CheckConfig,
  CheckRule,
  CleanRule,
  ColumnConfig,
  ContractMode,
  CsvConfig,
  DatabaseConnectionConfig,
  FileSourceConfig,
  GoldModelConfig,
  CustomSurvivor,
  FieldComparison,
  FieldKind,
  FuzzyMatchConfig,
  IntegrationConfig,
  IntegrationFieldConfig,
  IntegrationSourceConfig,
  MatchConfig,
  SurvivorCandidate,
  SurvivorshipRule,
  SurvivorshipRuleName,
  ValidityRule,
  HttpPaginationConfig,
  HttpSourceConfig,
  LoadConfig,
  MysqlSourceConfig,
  PostgresSourceConfig,
  SourceConfig,
  LogicalType,
  OpenLineageConfig,
  PartitionBy,
  ProjectConfig,
  PublishConfig,
  SchemaContract,
  SilverTableConfig,
  WarehouseConfig,
} from './config/types.js';
export type { Plan, SilverPlan, GoldPlan, SourcePlan, StepPlan } from './config/plan.js';
export { readProject, planProject } from './config/load-project.js';
export { openProject, type OpenProject } from './project.js';
export { runPipeline, type RunOptions, type RunReport } from './orchestrator/run-pipeline.js';
export type { StepOutcome, FileOutcome, ProgressEvent } from './orchestrator/run-context.js';
export { systemClock, TestClock, type Clock } from './orchestrator/clock.js';
export { auditWarehouse, type AuditReport, type TableAudit } from './layers/audit.js';
export { RefineryError, isRefineryError, type ErrorData, type ErrorKind } from './errors.js';
export { EngineError } from './warehouse/engine-error.js';
export { DuckDBWarehouse } from './warehouse/duckdb/duckdb-warehouse.js';
export type { Warehouse, SqlDialect, SqlSession, WarehouseCapabilities, Introspector, QueryResult } from './warehouse/warehouse.js';
export { scaffoldProject, listTemplates } from './templates.js';
export { schemaHistory, latestSchema, type SchemaEntry, type SchemaChange } from './layers/schema-history.js';
export { buildLineageGraph, type LineageGraph, type LineageEdge, type LineageDataset, type TableEdge } from './lineage/column-lineage.js';
export { walkColumns, walkTables, resolveTarget, type Direction } from './lineage/lineage-graph.js';
export { traceRow, type TraceReport, type SilverTrace, type TracedBronzeRow, type BronzeFate } from './lineage/row-trace.js';
export { openLineageListener, lineageEventsFile } from './lineage/openlineage-emitter.js';
export type { RunEvent } from './lineage/openlineage-events.js';
export type { RunListener } from './orchestrator/run-listener.js';
export { explainEntity, type EntityExplanation, type FieldExplanation, type CandidateExplanation } from './integrate/explain.js';
export type { IntegrationPlan } from './integrate/integration-plan.js';
