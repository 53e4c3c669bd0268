import type { Plan, StepPlan } from '../config/plan.js';

/** The step graph drawn as text, Mermaid or Graphviz dot, grouped by layer, with statuses from a run when known. */
export type GraphFormat = 'text' | 'mermaid' | 'dot';

const LAYERS: readonly StepPlan['kind'][] = ['bronze', 'silver', 'integrate', 'gold', 'task'];
const LAYER_TITLE: Record<StepPlan['kind'], string> = { bronze: 'bronze (raw)', silver: 'silver (cleaned)', integrate: 'integrate (golden records)', gold: 'gold (business)', task: 'tasks' };

export function renderGraph(plan: Plan, format: GraphFormat, statuses: ReadonlyMap<string, string> = new Map()): string {
  switch (format) {
    case 'mermaid':
      return mermaid(plan, statuses);
    case 'dot':
      return dot(plan, statuses);
    default:
      return text(plan, statuses);
  }
}

function text(plan: Plan, statuses: ReadonlyMap<string, string>): string {
  const lines: string[] = [];
  for (const layer of LAYERS) {
    const steps = plan.steps.filter((s) => s.kind === layer);
    if (steps.length === 0) continue;
    lines.push(LAYER_TITLE[layer]);
    for (const s of steps) {
      const status = statuses.get(s.name);
      const extras = [s.pool ? `pool ${s.pool}` : '', s.retry.attempts > 1 ? `retry ×${s.retry.attempts}` : '', s.trigger !== 'all_success' ? s.trigger : ''].filter(Boolean);
      lines.push(`  ${s.name}${status ? ` [${status}]` : ''}${s.dependsOn.length ? ` ← ${s.dependsOn.join(', ')}` : ''}${extras.length ? `  (${extras.join(', ')})` : ''}`);
    }
  }
  return lines.join('\n');
}

const id = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');

function mermaid(plan: Plan, statuses: ReadonlyMap<string, string>): string {
  const lines = ['flowchart LR'];
  for (const layer of LAYERS) {
    const steps = plan.steps.filter((s) => s.kind === layer);
    if (steps.length === 0) continue;
    lines.push(`  subgraph ${layer}["${LAYER_TITLE[layer]}"]`);
    for (const s of steps) lines.push(`    ${id(s.name)}["${s.name}${statuses.get(s.name) ? `<br/>${statuses.get(s.name)}` : ''}"]`);
    lines.push('  end');
  }
  for (const s of plan.steps) for (const d of s.dependsOn) lines.push(`  ${id(d)} --> ${id(s.name)}`);
  const classes: Record<string, string> = { success: 'fill:#d4f7d4', skipped: 'fill:#eeeeee', failed: 'fill:#f7d4d4', upstream_failed: 'fill:#f7ecd4', cancelled: 'fill:#f7ecd4' };
  for (const [status, style] of Object.entries(classes)) {
    const members = plan.steps.filter((s) => statuses.get(s.name) === status).map((s) => id(s.name));
    if (members.length > 0) lines.push(`  classDef ${status} ${style}`, `  class ${members.join(',')} ${status}`);
  }
  return lines.join('\n');
}

function dot(plan: Plan, statuses: ReadonlyMap<string, string>): string {
  const colors: Record<string, string> = { success: 'palegreen', skipped: 'gray90', failed: 'salmon', upstream_failed: 'wheat', cancelled: 'wheat' };
  const lines = ['digraph refinery {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fillcolor=white];'];
  for (const layer of LAYERS) {
    const steps = plan.steps.filter((s) => s.kind === layer);
    if (steps.length === 0) continue;
    lines.push(`  subgraph cluster_${layer} {`, `    label="${LAYER_TITLE[layer]}";`);
    for (const s of steps) {
      const status = statuses.get(s.name);
      lines.push(`    "${s.name}"${status ? ` [fillcolor=${colors[status] ?? 'white'}, tooltip="${status}"]` : ''};`);
    }
    lines.push('  }');
  }
  for (const s of plan.steps) for (const d of s.dependsOn) lines.push(`  "${d}" -> "${s.name}";`);
  lines.push('}');
  return lines.join('\n');
}
