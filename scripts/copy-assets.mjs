// Copies the non-TypeScript files the built package reads at run time (numbered SQL migrations) next to the compiled code.
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'dist/state/migrations'), { recursive: true });
cpSync(join(root, 'src/state/migrations'), join(root, 'dist/state/migrations'), { recursive: true });
