import mysql from 'mysql2';
import type { MysqlSourcePlan } from '../../config/plan.js';
import { RefineryError } from '../../errors.js';
import { passwordFromEnv } from '../database-extractor.js';

/** Connection settings for mysql2, with the password (if any) taken from the environment. */
export interface MysqlClientConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database?: string;
  readonly password?: string;
}

/**
 * Turns a source's connection settings into mysql2 options. As for PostgreSQL, secrets come only from environment
 * variables (the whole URL in `urlEnv`, or the password in `passwordEnv`), and `describeConnection` never shows them.
 * Unset parts default to 127.0.0.1:3306 as root.
 */
export function mysqlClientConfig(source: MysqlSourcePlan, env: NodeJS.ProcessEnv = process.env): MysqlClientConfig {
  const c = source.connection;
  let fromUrl: Partial<MysqlClientConfig> = {};
  const urlText = c.urlEnv ? env[c.urlEnv] : c.url;
  if (c.urlEnv && !urlText) {
    throw new RefineryError('config', {
      code: 'connection_env_missing',
      path: `sources.${source.name}.connection.urlEnv`,
      message: `sources.${source.name} reads its connection URL from the environment variable ${c.urlEnv}, which is not set.`,
      hint: `Set it, e.g. export ${c.urlEnv}=mysql://user:password@host:3306/database`,
    });
  }
  if (urlText) fromUrl = parseMysqlUrl(source, urlText, c.urlEnv !== undefined);
  const password = passwordFromEnv(source.name, c.passwordEnv, env);
  const database = c.database ?? fromUrl.database;
  const secret = password ?? fromUrl.password;
  return {
    host: c.host ?? fromUrl.host ?? '127.0.0.1',
    port: c.port ?? fromUrl.port ?? 3306,
    user: c.user ?? fromUrl.user ?? 'root',
    ...(database ? { database } : {}),
    ...(secret !== undefined && secret !== '' ? { password: secret } : {}),
  };
}

function parseMysqlUrl(source: MysqlSourcePlan, text: string, fromEnv: boolean): Partial<MysqlClientConfig> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL('invalid://');
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new RefineryError('config', {
      code: 'connection_url_invalid',
      path: `sources.${source.name}.connection.${fromEnv ? 'urlEnv' : 'url'}`,
      // Never echo the text: it may hold a password.
      message: `The connection URL for sources.${source.name}${fromEnv ? ` (in $${source.connection.urlEnv})` : ''} is not a mysql:// URL.`,
      allowed: 'mysql://user:password@host:3306/database or mariadb://...',
      hint: 'Fix the URL.',
    });
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return {
    ...(url.hostname ? { host: decodeURIComponent(url.hostname.replace(/^\[|\]$/g, '')) } : {}),
    ...(url.port ? { port: Number(url.port) } : {}),
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(database ? { database } : {}),
  };
}

/** `mysql://user@host:port/db` without any password, for lineage and messages. */
export function describeMysqlConnection(config: MysqlClientConfig): string {
  return `mysql://${encodeURIComponent(config.user)}@${config.host}:${config.port}/${config.database ?? ''}`;
}

/**
 * Opens one connection (callback API: its query streams honour backpressure). Every session reads TIMESTAMP
 * columns in UTC, so extracts and watermarks do not depend on the server's or the machine's time zone.
 */
export async function connectMysql(source: MysqlSourcePlan, env?: NodeJS.ProcessEnv): Promise<mysql.Connection> {
  const config = mysqlClientConfig(source, env);
  const connection = mysql.createConnection({ ...config, charset: 'UTF8MB4_UNICODE_CI', timezone: 'Z', connectTimeout: 10_000, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  // A dropped connection surfaces on the next query; without a listener it would crash the process.
  connection.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
    await new Promise<void>((resolve, reject) => connection.query(`SET time_zone = '+00:00'`, (error) => (error ? reject(error) : resolve())));
  } catch (error) {
    connection.destroy();
    const code = (error as { code?: string }).code;
    throw new RefineryError('pipeline', {
      code: 'source_unreachable',
      step: `bronze.${source.name}`,
      message: `Could not connect to ${describeMysqlConnection(config)} for source ${source.name}${code ? ` (${code})` : ''}: ${redactMysql(error instanceof Error ? error.message : String(error), config)}`,
      hint: 'Check that the database is up and the connection settings (and environment variables) are right.',
    });
  }
  return connection;
}

/** Removes the password (and any password in a URL) from a driver message. */
export function redactMysql(message: string, config: MysqlClientConfig): string {
  let out = message.replace(/((mysql|mariadb):\/\/[^:/@]*:)[^@]*@/gi, '$1***@');
  if (config.password) out = out.split(config.password).join('***');
  return out;
}

export function quoteMysqlIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

export function quoteMysqlTable(qualified: string): string {
  return qualified.split('.').map(quoteMysqlIdent).join('.');
}
