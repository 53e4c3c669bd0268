import mysql from 'mysql2/promise';

/**
 * The MariaDB/MySQL server the suites run against: the machine's service (127.0.0.1:3306, root without a password,
 * database `test`), or the one in REFINERY_TEST_MYSQL_URL. On a machine without one the suites skip with a loud
 * reason — except on CI (CI=true), where a missing server is a failure, never a skip.
 */
export const MYSQL_URL = process.env.REFINERY_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

export async function mysqlAvailable(): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  let connection: mysql.Connection | undefined;
  try {
    connection = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT version() AS v');
    return { ok: true, version: String(rows[0]?.v) };
  } catch (error) {
    return { ok: false, reason: `no MySQL/MariaDB at ${MYSQL_URL}: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await connection?.end().catch(() => undefined);
  }
}

/** Decides, once per suite file, whether server tests run; prints why when they do not. */
export async function requireMysql(what: string): Promise<boolean> {
  const status = await mysqlAvailable();
  if (status.ok) return true;
  if (process.env.CI) throw new Error(`CI=true but ${what} cannot run: ${status.reason}. .ci/run must start MariaDB.`);
  console.warn(`\n⚠️  SKIPPING ${what}: ${status.reason}. Set REFINERY_TEST_MYSQL_URL or start MariaDB to run them.\n`);
  return false;
}

/** A database of its own per test (MySQL's schemas are databases), dropped afterwards. */
export class MysqlFixture {
  readonly database = `refinery_t_${Math.random().toString(36).slice(2, 10)}`;
  private connection: mysql.Connection | undefined;

  async sql(text: string, params: unknown[] = []): Promise<unknown> {
    if (!this.connection) {
      this.connection = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: false });
      await this.connection.query(`CREATE DATABASE ${this.database}`);
      await this.connection.query(`USE ${this.database}`);
    }
    const [result] = await this.connection.query(text, params);
    return result;
  }

  async dispose(): Promise<void> {
    if (!this.connection) return;
    await this.connection.query(`DROP DATABASE ${this.database}`);
    await this.connection.end();
    this.connection = undefined;
  }
}
