import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.js';

/**
 * The shell examples in the documentation are run, so they stay true.
 *
 * Every ```sh block of docs/*.md and README.md is extracted; each file's blocks run in order, in one bash session
 * that starts in a fresh temporary directory (so `cd` and variables carry over from block to block, as they do for
 * a reader following along). `refinery` is a shell function calling the built CLI (`npm run build` first), with
 * NO_COLOR=1. Any command that exits non-zero fails the test, except a single-line command ending in
 * `# exits N`, which must exit with exactly N. Blocks fenced with another tag (```text, ```ts, ```json) are not run.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXIT_MARKER = /\s+#\s*exits\s+(\d+)\s*$/;
const BLOCK_MARKER = '@@docs-example block';

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly code: string;
}

/** The ```sh blocks of a Markdown text, in order. Other fenced blocks (even ones containing ```sh) are skipped. */
export function extractShellBlocks(markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  const lines = markdown.split('\n');
  let open: { fence: string; indent: number; line: number; sh: boolean; body: string[] } | undefined;
  for (const [index, text] of lines.entries()) {
    if (!open) {
      const start = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/.exec(text);
      if (start) open = { fence: start[2] as string, indent: (start[1] as string).length, line: index + 1, sh: start[3] === 'sh', body: [] };
      continue;
    }
    const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(text);
    if (close && (close[1] as string)[0] === open.fence[0] && (close[1] as string).length >= open.fence.length) {
      if (open.sh) blocks.push({ line: open.line, code: open.body.join('\n') });
      open = undefined;
      continue;
    }
    // Content of an indented fence loses up to the fence's indentation, as CommonMark says.
    open.body.push(text.replace(new RegExp(`^ {0,${open.indent}}`), ''));
  }
  return blocks;
}

/**
 * Rewrites a block for bash: a command ending in `# exits N` is run inside `if` (so `set -e` lets it fail) and its
 * exit code is compared with N. Lines inside here-documents are left alone; lines ending in `\` join the next one.
 */
export function instrumentBlock(code: string): string {
  const out: string[] = [];
  const lines = code.split('\n');
  let heredoc: { delimiter: string; stripTabs: boolean } | undefined;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string;
    if (heredoc) {
      out.push(line);
      const candidate = heredoc.stripTabs ? line.replace(/^\t+/, '') : line;
      if (candidate === heredoc.delimiter) heredoc = undefined;
      continue;
    }
    const start = i;
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) line = `${line}\n${lines[++i] as string}`;
    const marker = EXIT_MARKER.exec(line);
    const opens = /(?<!<)<<(?!<)(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(line);
    if (marker && !opens) {
      const command = line.slice(0, marker.index);
      const expected = Number(marker[1]);
      out.push(
        `if ${command}\nthen __docs_rc=0; else __docs_rc=$?; fi`,
        `if [ "$__docs_rc" -ne ${expected} ]; then echo "${BLOCK_MARKER} command exited $__docs_rc, expected ${expected}: ${shellQuoteForEcho(command)}" >&2; exit 97; fi`,
      );
    } else {
      out.push(lines.slice(start, i + 1).join('\n'));
      if (opens) heredoc = { delimiter: opens[3] as string, stripTabs: opens[1] === '-' };
    }
  }
  return out.join('\n');
}

function shellQuoteForEcho(text: string): string {
  return text.replace(/[\\"$`]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
}

/** One bash script for a whole file: the `refinery` function, strict mode, then every block with a marker. */
export function scriptFor(blocks: readonly ShellBlock[], bin = BIN): string {
  const header = [
    'set -eo pipefail',
    'export NO_COLOR=1',
    `refinery() { ${quote(process.execPath)} ${quote(bin)} "$@"; }`,
    // The CLI's own hints say `npx refinery ...`: let those lines run too.
    'npx() { if [ "${1:-}" = refinery ]; then shift; refinery "$@"; else command npx "$@"; fi; }',
    `trap 'echo "${BLOCK_MARKER} command failed with exit $?: $BASH_COMMAND" >&2' ERR`,
  ];
  const body = blocks.flatMap((b, i) => [`echo "${BLOCK_MARKER} ${i + 1}" >&2`, instrumentBlock(b.code)]);
  return `${[...header, ...body].join('\n')}\n`;
}

function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

interface BashResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runBash(script: string, cwd: string, timeoutMs: number): Promise<BashResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.FORCE_COLOR;
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr: signal ? `${stderr}\nkilled by ${signal} (timeout ${timeoutMs} ms?)` : stderr });
    });
  });
}

/** Runs a file's blocks in a fresh directory; throws an error naming the failing block when a command fails. */
async function runExamples(label: string, blocks: readonly ShellBlock[], options: { timeoutMs?: number; keepOnFailure?: boolean } = {}): Promise<void> {
  const { timeoutMs = 180_000, keepOnFailure = true } = options;
  const dir = mkdtempSync(join(tmpdir(), 'refinery-docs-'));
  const result = await runBash(scriptFor(blocks), dir, timeoutMs);
  if (result.code === 0 || !keepOnFailure) rmSync(dir, { recursive: true, force: true });
  if (result.code === 0) return;
  const started = [...result.stderr.matchAll(new RegExp(`${BLOCK_MARKER} (\\d+)\\n`, 'g'))].map((m) => Number(m[1]));
  const failing = blocks[(started[started.length - 1] ?? 1) - 1];
  const tail = (text: string): string => text.split('\n').slice(-40).join('\n');
  throw new Error(
    [
      `A shell example in ${label} failed (exit ${result.code})${failing ? ` in the block at line ${failing.line}` : ''}${keepOnFailure ? `; its directory is kept at ${dir}` : ''}.`,
      failing ? `--- block ---\n${failing.code}` : '',
      `--- stdout (end) ---\n${tail(result.stdout)}`,
      `--- stderr (end) ---\n${tail(result.stderr)}`,
    ].join('\n'),
  );
}

const documents = [
  ...(existsSync(join(ROOT, 'README.md')) ? ['README.md'] : []),
  ...(existsSync(join(ROOT, 'docs')) ? readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`) : []),
];
const examples = documents.map((file) => ({ file, blocks: extractShellBlocks(readFileSync(join(ROOT, file), 'utf8')) })).filter((d) => d.blocks.length > 0);

describe('the docs-example runner', () => {
  it('finds only ```sh blocks, including indented ones, and skips blocks nested in other fences', () => {
    const markdown = [
      '# Title',
      '```sh',
      'echo one',
      '```',
      '```text',
      'not run',
      '```',
      '````md',
      '```sh',
      'echo nested',
      '```',
      '````',
      '1. a step',
      '   ```sh',
      '   echo indented',
      '   ```',
    ].join('\n');
    expect(extractShellBlocks(markdown)).toEqual([
      { line: 2, code: 'echo one' },
      { line: 14, code: 'echo indented' },
    ]);
  });

  it('checks the exit code a command is marked with, and fails on any other non-zero exit', async () => {
    const ok = [{ line: 1, code: 'false # exits 1\n(exit 2) # exits 2\ncat <<EOF\nstays # exits 3\nEOF\ntrue' }];
    const quick = { timeoutMs: 20_000, keepOnFailure: false };
    await expect(runExamples('ok.md', ok, quick)).resolves.toBeUndefined();
    await expect(runExamples('wrong.md', [{ line: 7, code: 'true # exits 1' }], quick)).rejects.toThrow(/line 7[\s\S]*exited 0, expected 1/);
    await expect(runExamples('unmarked.md', [{ line: 1, code: 'echo fine' }, { line: 9, code: 'false\necho never' }], quick)).rejects.toThrow(/line 9/);
  });

  it('runs blocks of one file in one shell, starting in an empty directory', async () => {
    const blocks = [
      { line: 1, code: 'test -z "$(ls -A)"\nmkdir lab && cd lab\nX=1' },
      { line: 5, code: 'test "$(basename "$PWD")" = lab\ntest "$X" = 1' },
    ];
    await expect(runExamples('state.md', blocks, { timeoutMs: 20_000, keepOnFailure: false })).resolves.toBeUndefined();
  });
});

/** Two files at a time: each CLI call starts Node and DuckDB, and more at once only makes them wait for the CPU. */
function limiter(slots: number): <T>(work: () => Promise<T>) => Promise<T> {
  const waiting: (() => void)[] = [];
  let free = slots;
  return async (work) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}
const slot = limiter(2);

describe.concurrent('shell examples in the docs', () => {
  it('exist', () => {
    expect(existsSync(BIN), `${BIN} is missing: run npm run build first`).toBe(true);
    expect(examples.length).toBeGreaterThan(0);
  });

  for (const { file, blocks } of examples) {
    it(`${file}: ${blocks.length} block(s) run without error`, async () => slot(() => runExamples(file, blocks)), 400_000);
  }
});
