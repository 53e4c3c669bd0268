import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');

/** The README's first two commands are the contract with a newcomer: keep them true. */
describe('README commands', () => {
  it('starts with the setup-and-demo and setup-and-test commands', () => {
    const firstBlock = /```[a-z]*\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toContain('npm ci && npm run demo');
    expect(firstBlock).toContain('npm ci && npm test');
  });

  it('has the scripts those commands call, building on install so the bin needs no compiler at run time', () => {
    expect(pkg.scripts.demo).toMatch(/dist\/cli\/main\.js demo/);
    expect(pkg.scripts.test).toMatch(/vitest run/);
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.bin.refinery).toBe('dist/cli/main.js');
  });

  it('is what CI runs', () => {
    expect(ci).toContain('npm ci && npm test');
  });
});
