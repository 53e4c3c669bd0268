import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Warehouse } from '../warehouse/warehouse.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** Numbered SQL files, applied once each, in order, each in its own transaction (graphile-worker style). */
export function listMigrations(): { version: number; file: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{6}\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 6)), file: f }));
}

export async function migrate(warehouse: Warehouse): Promise<number[]> {
  await warehouse.execute('CREATE SCHEMA IF NOT EXISTS refinery');
  await warehouse.execute('CREATE TABLE IF NOT EXISTS refinery.migrations (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)');
  const { rows } = await warehouse.query('SELECT version FROM refinery.migrations');
  const applied = new Set(rows.map((r) => Number(r.version)));
  const done: number[] = [];
  for (const { version, file } of listMigrations()) {
    if (applied.has(version)) continue;
    const sql = readFileSync(MIGRATIONS_DIR + file, 'utf8');
    await warehouse.transaction(async (tx) => {
      for (const statement of splitStatements(sql)) await tx.execute(statement);
      await tx.execute('INSERT INTO refinery.migrations (version) VALUES ($1)', [version]);
    });
    done.push(version);
  }
  return done;
}

/** Splits a migration file on semicolons that end a line; migrations hold no procedural code. */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
