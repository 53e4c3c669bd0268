import type { Plan, StepPlan } from '../config/plan.js';
import { usageError } from '../errors.js';
import { closest } from '../config/config-issues.js';

/**
 * `--select` in dbt's grammar: `name` (one step), `+name` (with everything upstream), `name+` (with everything
 * downstream), `+name+` (both), `layer:silver`, `tag:nightly`. Several selectors are a union.
 */
export function selectSteps(plan: Plan, selectors: readonly string[]): Set<string> {
  if (selectors.length === 0) return new Set(plan.steps.map((s) => s.name));
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  const downstream = new Map<string, string[]>();
  for (const s of plan.steps) for (const d of s.dependsOn) downstream.set(d, [...(downstream.get(d) ?? []), s.name]);
  const walk = (start: string, next: (name: string) => readonly string[], into: Set<string>): void => {
    for (const n of next(start)) {
      if (!into.has(n)) {
        into.add(n);
        walk(n, next, into);
      }
    }
  };
  const selected = new Set<string>();
  for (const raw of selectors.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean)) {
    if (raw.startsWith('layer:') || raw.startsWith('tag:')) {
      const [kind, value] = raw.split(':', 2) as [string, string];
      const matches = plan.steps.filter((s: StepPlan) => (kind === 'layer' ? s.kind === value : s.tags.includes(value)));
      if (matches.length === 0) {
        throw usageError({ code: 'selector_matches_nothing', value: raw, message: `--select ${raw} matches no step.`, allowed: kind === 'layer' ? 'layer:bronze, layer:silver, layer:integrate, layer:gold, layer:task' : [...new Set(plan.steps.flatMap((s) => s.tags))].map((t) => `tag:${t}`).join(', ') || '(no tags declared)', hint: 'Check the spelling.' });
      }
      for (const m of matches) selected.add(m.name);
      continue;
    }
    const up = raw.startsWith('+');
    const down = raw.endsWith('+');
    const name = raw.replace(/^\+/, '').replace(/\+$/, '');
    if (!byName.has(name)) {
      const names = [...byName.keys()];
      const suggestion = closest(name, names);
      throw usageError({ code: 'unknown_step', value: name, message: `There is no step '${name}'.`, allowed: names.join(', '), hint: suggestion ? `Did you mean '${suggestion}'?` : 'Tables are named <layer>.<table>; tasks by their key.' });
    }
    selected.add(name);
    if (up) walk(name, (n) => byName.get(n)?.dependsOn ?? [], selected);
    if (down) walk(name, (n) => downstream.get(n) ?? [], selected);
  }
  return selected;
}
