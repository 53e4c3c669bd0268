import pg from 'pg';

/**
 * The PostgreSQL server the suites run against: the machine's service (127.0.0.1:5432, database `test`), or the one
 * in REFINERY_TEST_PG_URL. On a machine without one the suites skip with a loud reason — except on CI
 * (CI=true), where a missing server is a failure, never a skip.
 */
export const PG_URL = process.env.REFINERY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function postgresAvailable(): Promise<{ ok: true; walLevel: string } | { ok: false; reason: string }> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
    return { ok: true, walLevel: rows[0]?.wal_level ?? 'unknown' };
  } catch (error) {
    return { ok: false, reason: `no PostgreSQL at ${PG_URL}: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Decides, once per suite file, whether server tests run; prints why when they do not. */
export async function requirePostgres(what: string): Promise<boolean> {
  const status = await postgresAvailable();
  if (status.ok) return true;
  if (process.env.CI) throw new Error(`CI=true but ${what} cannot run: ${status.reason}. .ci/run must start PostgreSQL.`);
  console.warn(`\n⚠️  SKIPPING ${what}: ${status.reason}. Set REFINERY_TEST_PG_URL or start PostgreSQL to run them.\n`);
  return false;
}

export class PgFixture {
  readonly schema = `refinery_t_${Math.random().toString(36).slice(2, 10)}`;
  private client: pg.Client | undefined;

  async sql(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
    if (!this.client) {
      this.client = new pg.Client({ connectionString: PG_URL });
      await this.client.connect();
      await this.client.query(`CREATE SCHEMA ${this.schema}`);
      await this.client.query(`SET search_path TO ${this.schema}`);
    }
    return this.client.query(text, params);
  }

  async dispose(slots: string[] = []): Promise<void> {
    if (!this.client) return;
    for (const slot of slots) {
      await this.client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [slot]).catch(() => undefined);
      await this.client.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => undefined);
    }
    await this.client.query(`DROP SCHEMA ${this.schema} CASCADE`);
    await this.client.end();
    this.client = undefined;
  }
}
