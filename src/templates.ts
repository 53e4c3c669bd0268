import { cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usageError } from './errors.js';

const TEMPLATES_DIR = fileURLToPath(new URL('../templates/', import.meta.url));

export function listTemplates(): string[] {
  return readdirSync(TEMPLATES_DIR).filter((n) => statSync(join(TEMPLATES_DIR, n)).isDirectory()).sort();
}

/**
 * Copies a project template into `dir`. The new project needs no `node_modules` of its own: the CLI that runs it
 * resolves `import ... from 'refinery'` to itself. A tsconfig pointing at this package gives editors the types.
 */
export function scaffoldProject(dir: string, template = 'customers', options: { force?: boolean } = {}): { dir: string; files: string[] } {
  const templates = listTemplates();
  if (!templates.includes(template)) {
    throw usageError({ code: 'unknown_template', value: template, message: `There is no template '${template}'.`, allowed: templates.join(', '), hint: `Use --template ${templates[0] ?? 'customers'}.` });
  }
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0 && !options.force) {
    throw usageError({
      code: 'directory_not_empty',
      file: target,
      message: `${target} already exists and is not empty.`,
      hint: 'Choose a new directory, or pass --force to write the template into it anyway.',
    });
  }
  mkdirSync(target, { recursive: true });
  cpSync(join(TEMPLATES_DIR, template), target, { recursive: true });
  const packageEntry = fileURLToPath(new URL('./index.d.ts', import.meta.url));
  writeFileSync(
    join(target, 'tsconfig.json'),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          // Lets editors find `refinery` without installing it in the project.
          paths: { refinery: [packageEntry] },
        },
        include: ['refinery.config.ts'],
      },
      null,
      2,
    )}\n`,
  );
  return { dir: target, files: listFiles(target).map((f) => relative(target, f)) };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
