import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StepContext } from '../orchestrator/run-context.js';

/**
 * The path of this attempt's extract for a source: `.refinery/extracts/<source>-<run>-<attempt>.<extension>` (a
 * database extract adds `.0`, `.1`, ... for its parts).
 *
 * A run removes its extracts when it is done with them, but a killed one cannot, and a million rows leave 100 MB
 * behind. Only one run holds a warehouse at a time, so whatever this source's earlier runs left here is garbage:
 * it is removed first. (Source names are identifiers, without '-', so `crm-` never matches another source's files.)
 */
export function extractPath(ctx: StepContext, source: string, extension: string): string {
  const dir = join(ctx.plan.projectDir, '.refinery', 'extracts');
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (name.startsWith(`${source}-`)) rmSync(join(dir, name), { force: true });
  }
  return join(dir, `${source}-${ctx.runId}-${ctx.attempt}.${extension}`);
}
