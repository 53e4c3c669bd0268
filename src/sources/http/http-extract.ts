import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { HttpSourcePlan } from '../../config/plan.js';
import { RefineryError } from '../../errors.js';
import { describeUrl, type HttpClient, type HttpPage } from './http-client.js';

export interface HttpExtract {
  /** Records written, over all pages. */
  readonly records: number;
  readonly pages: number;
  /** sha256 and size of the JSON Lines file. */
  readonly sha256: string;
  readonly bytes: number;
  /** The first request, without secrets: what bronze's `_source_file` names. */
  readonly request: string;
}

/**
 * Reads an API page by page and writes its records to a JSON Lines file, one record per line, as received. Pages
 * arrive whole (a JSON body is parsed at once), but never more than one is held: each goes to the file before the
 * next is asked for. The file is then staged like a landing .jsonl file.
 */
export async function extractPages(client: HttpClient, source: HttpSourcePlan, extraParams: Readonly<Record<string, string>>, file: string, onPage: (pages: number, records: number) => void = () => undefined): Promise<HttpExtract> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  let bytes = 0;
  const write = async (chunk: string): Promise<void> => {
    hash.update(chunk);
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  };
  const first = new URL(source.url);
  for (const [k, v] of Object.entries({ ...source.params, ...extraParams })) first.searchParams.set(k, v);
  const p = source.pagination;
  let url = new URL(first);
  let pages = 0;
  let records = 0;
  let page = p.type === 'page' ? p.start : 0;
  let offset = 0;
  let previous: string | undefined;
  try {
    for (;;) {
      if (p.type !== 'none' && p.maxPages !== undefined && pages >= p.maxPages) {
        throw new RefineryError('pipeline', {
          code: 'http_too_many_pages',
          step: `bronze.${source.name}`,
          message: `GET ${client.redact(describeUrl(first))} still had more pages after ${p.maxPages} (pagination.maxPages); nothing was loaded.`,
          hint: `Raise sources.${source.name}.pagination.maxPages, or check that the pagination settings match the API.`,
        });
      }
      if (p.type === 'page') {
        url.searchParams.set(p.param, String(page));
        url.searchParams.set(p.sizeParam, String(p.size));
      } else if (p.type === 'offset') {
        url.searchParams.set(p.param, String(offset));
        url.searchParams.set(p.limitParam, String(p.limit));
      }
      const response = await client.get(url);
      const items = recordsOf(source, client, response);
      for (const [i, item] of items.entries()) {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) {
          throw new RefineryError('pipeline', {
            code: 'http_record_not_object',
            step: `bronze.${source.name}`,
            message: `Record ${i + 1} of GET ${client.redact(describeUrl(url))} is ${JSON.stringify(item)?.slice(0, 60) ?? 'undefined'}, not an object with fields.`,
            hint: `Point sources.${source.name}.records at the array of objects in the response.`,
          });
        }
        await write(`${JSON.stringify(item)}\n`);
      }
      pages += 1;
      records += items.length;
      onPage(pages, records);
      let next: URL | undefined;
      switch (p.type) {
        case 'none':
          break;
        case 'page':
        case 'offset': {
          if (items.length === 0) break;
          // An API that ignores the page parameter answers the same page forever: stop rather than loop.
          const fingerprint = createHash('sha256').update(JSON.stringify(items)).digest('hex');
          if (fingerprint === previous) throw loop(source, client, url, `the same records came back for ${p.param}=${url.searchParams.get(p.param)}`);
          previous = fingerprint;
          if (p.type === 'page') page += 1;
          else offset += items.length;
          next = url;
          break;
        }
        case 'cursor': {
          const value = at(response.json, p.field);
          if (value === undefined || value === null || value === '' || value === false) break;
          const cursor = typeof value === 'string' ? value : JSON.stringify(value);
          if (cursor === previous) throw loop(source, client, url, `the next cursor ${p.field.join('.')} did not change`);
          previous = cursor;
          next = new URL(url);
          next.searchParams.set(p.param, cursor);
          break;
        }
        case 'link': {
          const link = nextLink(response.headers.get('link'));
          if (!link) break;
          next = new URL(link, url);
          if (next.href === url.href) throw loop(source, client, url, 'the next link points to the same page');
          break;
        }
      }
      if (!next) break;
      url = next;
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return { records, pages, sha256: hash.digest('hex'), bytes, request: client.redact(describeUrl(first)) };
}

function loop(source: HttpSourcePlan, client: HttpClient, url: URL, what: string): RefineryError {
  return new RefineryError('pipeline', {
    code: 'http_pagination_loop',
    step: `bronze.${source.name}`,
    message: `Paging GET ${client.redact(describeUrl(url))} went round in a circle: ${what}; nothing was loaded.`,
    hint: `Check that sources.${source.name}.pagination matches how the API pages (its parameter names).`,
  });
}

function recordsOf(source: HttpSourcePlan, client: HttpClient, page: HttpPage): unknown[] {
  const value = at(page.json, source.records);
  if (Array.isArray(value)) return value;
  const path = source.records.join('.');
  const container = at(page.json, source.records.slice(0, -1));
  const keys = container !== null && typeof container === 'object' && !Array.isArray(container) ? Object.keys(container) : [];
  throw new RefineryError('pipeline', {
    code: 'http_records_missing',
    step: `bronze.${source.name}`,
    path: `sources.${source.name}.records`,
    value: path || undefined,
    message: `GET ${client.redact(describeUrl(page.url))} answered with ${path ? `no array at '${path}'` : 'a response that is not an array'} (found ${describe(value)}).`,
    ...(keys.length > 0 ? { allowed: keys.map((k) => (source.records.length > 1 ? `${source.records.slice(0, -1).join('.')}.${k}` : k)).join(', ') } : {}),
    hint: `Set sources.${source.name}.records to the dotted path of the records array, e.g. 'data.items'.`,
  });
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing there';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object with ${Object.keys(value).map((k) => `'${k}'`).join(', ') || 'no keys'}`;
  return `${typeof value} ${JSON.stringify(value).slice(0, 40)}`;
}

/** The value at a dotted path (already split); the value itself for an empty path. */
export function at(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Array.isArray(current) && /^\d+$/.test(key) ? current[Number(key)] : (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The target of rel="next" in an RFC 8288 Link header, e.g. `<https://api/x?page=2>; rel="next", <...>; rel="last"`. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const match of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    const params = match[2] ?? '';
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return match[1];
  }
  return undefined;
}
