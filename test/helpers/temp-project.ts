import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { planProject, readProject } from '../../src/config/load-project.js';
import type { Plan } from '../../src/config/plan.js';
import { auditWarehouse, type AuditReport } from '../../src/layers/audit.js';
import type { ProgressEvent } from '../../src/orchestrator/run-context.js';
import { runPipeline, type RunReport } from '../../src/orchestrator/run-pipeline.js';
import { migrate } from '../../src/state/migrate.js';
import { scaffoldProject } from '../../src/templates.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import type { EngineUnderTest } from './engines.js';

export function tempDir(prefix = 'refinery-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A project on disk plus an open warehouse, driven the way the CLI drives it (read → migrate → plan → run). */
export class TestProject {
  private warehouse: Warehouse | undefined;
  private plan: Plan | undefined;

  constructor(
    readonly dir: string,
    private readonly engine: EngineUnderTest,
  ) {}

  static fromTemplate(engine: EngineUnderTest, template = 'customers'): TestProject {
    const dir = tempDir();
    scaffoldProject(dir, template, { force: true });
    return new TestProject(dir, engine);
  }

  static fromFiles(engine: EngineUnderTest, files: Record<string, string | Buffer>): TestProject {
    const project = new TestProject(tempDir(), engine);
    for (const [path, content] of Object.entries(files)) project.write(path, content);
    return project;
  }

  write(path: string, content: string | Buffer): void {
    const full = join(this.dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }

  remove(path: string): void {
    rmSync(join(this.dir, path), { force: true, recursive: true });
  }

  async open(): Promise<{ plan: Plan; warehouse: Warehouse }> {
    const project = await readProject(this.dir);
    if (!this.warehouse) {
      this.warehouse = await this.engine.open(join(this.dir, '.refinery', 'warehouse.duckdb'));
      await migrate(this.warehouse);
    }
    this.plan = await planProject(project, this.warehouse.parser);
    return { plan: this.plan, warehouse: this.warehouse };
  }

  /** Runs on the real clock: retries and timeouts in these tests are milliseconds. */
  async run(options: { fullRefresh?: boolean; select?: string[]; progress?: (event: ProgressEvent) => void } = {}): Promise<RunReport> {
    const { plan, warehouse } = await this.open();
    return runPipeline(plan, warehouse, options);
  }

  async rows(sql: string): Promise<Row[]> {
    const { warehouse } = await this.open();
    return [...(await warehouse.query(sql)).rows];
  }

  async audit(): Promise<AuditReport> {
    const { plan, warehouse } = await this.open();
    return auditWarehouse(plan, warehouse);
  }

  async close(): Promise<void> {
    await this.warehouse?.close();
    this.warehouse = undefined;
  }

  async dispose(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
