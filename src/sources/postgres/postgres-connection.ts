import pg from 'pg';
import type { PostgresSourcePlan } from '../../config/plan.js';
import { RefineryError } from '../../errors.js';
import { passwordFromEnv } from '../database-extractor.js';

/**
 * Turns a source's connection settings into a client configuration. Secrets come only from environment
 * variables, and `describe` never includes them, so they cannot reach the warehouse, logs or messages.
 */
export function clientConfig(source: PostgresSourcePlan, env: NodeJS.ProcessEnv = process.env): pg.ClientConfig {
  const c = source.connection;
  if (c.urlEnv) {
    const url = env[c.urlEnv];
    if (!url) {
      throw new RefineryError('config', {
        code: 'connection_env_missing',
        path: `sources.${source.name}.connection.urlEnv`,
        message: `sources.${source.name} reads its connection URL from the environment variable ${c.urlEnv}, which is not set.`,
        hint: `Set it, e.g. export ${c.urlEnv}=postgres://user:password@host:5432/database`,
      });
    }
    return { connectionString: url, application_name: 'refinery' };
  }
  const password = passwordFromEnv(source.name, c.passwordEnv, env);
  return {
    ...(c.url ? { connectionString: c.url } : {}),
    ...(c.host ? { host: c.host } : {}),
    ...(c.port ? { port: c.port } : {}),
    ...(c.database ? { database: c.database } : {}),
    ...(c.user ? { user: c.user } : {}),
    ...(password !== undefined ? { password } : {}),
    application_name: 'refinery',
  };
}

/** `postgres://user@host:port/db` without any password, for lineage and messages. */
export function describeConnection(config: pg.ClientConfig): string {
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      url.password = '';
      return `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
    } catch {
      return 'postgres://(unparseable url)';
    }
  }
  const env = process.env;
  return `postgres://${config.user ?? env.PGUSER ?? ''}@${config.host ?? env.PGHOST ?? 'localhost'}:${config.port ?? env.PGPORT ?? 5432}/${config.database ?? env.PGDATABASE ?? ''}`;
}

export async function connect(source: PostgresSourcePlan, env?: NodeJS.ProcessEnv): Promise<pg.Client> {
  const config = clientConfig(source, env);
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (error) {
    // The driver's message can echo parts of the connection string: say where, never what the secret was.
    const code = (error as { code?: string }).code;
    throw new RefineryError('pipeline', {
      code: 'source_unreachable',
      step: `bronze.${source.name}`,
      message: `Could not connect to ${describeConnection(config)} for source ${source.name}${code ? ` (${code})` : ''}: ${redact(error instanceof Error ? error.message : String(error), config)}`,
      hint: 'Check that the database is up and the connection settings (and environment variables) are right.',
    });
  }
  client.on('error', () => {
    // A dropped idle connection surfaces on the next query; without a listener it would crash the process.
  });
  return client;
}

function redact(message: string, config: pg.ClientConfig): string {
  const secret = typeof config.password === 'string' && config.password !== '' ? config.password : undefined;
  let out = message.replace(/(postgres(ql)?:\/\/[^:/@]*:)[^@]*@/gi, '$1***@');
  if (secret) out = out.split(secret).join('***');
  return out;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteTable(qualified: string): string {
  return qualified.split('.').map(quoteIdent).join('.');
}
