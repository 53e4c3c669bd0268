import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * The conservation law as a property: for any messy input, landed over several runs, every bronze row is in
 * silver, in quarantine, or superseded — and silver holds exactly the rows an independent oracle of rules
 * R1–R3 and R7 says should survive.
 */
const HEADER = 'customer_id,name,email,phone,country,status,signup_date,updated_at';
const EMAIL = /^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$/;
const STATUSES = ['active', 'inactive', 'suspended', 'pending'];

interface MessyRow {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly status: string;
  readonly updated: string;
  readonly ragged: 'none' | 'extra' | 'missing';
}

const rowArb: fc.Arbitrary<MessyRow> = fc.record({
  id: fc.oneof(fc.constantFrom('1', '2', '3', ' 4 ', '05', '6'), fc.constantFrom('', '0', '-1', 'x7', '1.5')),
  name: fc.oneof(fc.constantFrom('ann', ' BOB  smith', 'o"neil', 'smith, jo', 'multi\nline', ''), fc.string({ maxLength: 6 })),
  email: fc.constantFrom('a@b.co', ' A@B.CO ', 'bad@', '', 'x.y@z.example.org', 'no at sign'),
  status: fc.constantFrom('active', ' Active ', 'PENDING', 'suspended', 'closed', ''),
  updated: fc.constantFrom('2024-01-01 00:00:00', '2024-01-02 00:00:00', '2024-01-02T00:00:00', '2024-01-03 12:00:00', 'n/a', ''),
  ragged: fc.constantFrom<MessyRow['ragged']>('none', 'none', 'none', 'none', 'none', 'none', 'extra', 'missing'),
});

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function csvLine(row: MessyRow): string {
  const fields = [row.id, row.name, row.email, '', 'nl', row.status, '', row.updated];
  if (row.ragged === 'extra') return [...fields.map(csvField), 'extra'].join(',');
  if (row.ragged === 'missing') return fields.slice(0, 5).map(csvField).join(',');
  return fields.map(csvField).join(',');
}

interface Landed extends MessyRow {
  readonly file: string;
  readonly fileOrder: number;
  readonly rowNumber: number;
}

/** The rules, restated independently of the SQL compiler. */
function oracle(rows: readonly Landed[]): { survivors: string[]; quarantined: number; superseded: number } {
  const valid = rows.filter((r) => {
    if (r.ragged !== 'none') return false;
    const id = r.id.trim();
    if (!/^[+-]?\d+$/.test(id) || Number(id) < 1) return false;
    if (!EMAIL.test(r.email.trim().toLowerCase())) return false;
    return STATUSES.includes(r.status.trim().toLowerCase());
  });
  const time = (u: string): number => (/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d$/.test(u) ? Date.parse(`${u.replace(' ', 'T')}Z`) : -Infinity);
  const best = new Map<number, Landed>();
  for (const r of valid) {
    const id = Number(r.id.trim());
    const current = best.get(id);
    const later = !current || time(r.updated) > time(current.updated) || (time(r.updated) === time(current.updated) && (r.fileOrder > current.fileOrder || (r.fileOrder === current.fileOrder && r.rowNumber > current.rowNumber)));
    if (later) best.set(id, r);
  }
  return {
    survivors: [...best.entries()].map(([id, r]) => `${id}|${r.file}|${r.rowNumber}`).sort(),
    quarantined: rows.length - valid.length,
    superseded: valid.length - best.size,
  };
}

describe.each(ENGINES)('conservation on $name', (engine) => {
  it('balances bronze = silver + quarantined + superseded and keeps exactly the oracle survivors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.array(rowArb, { maxLength: 12 }), { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 3 }), async (runs) => {
        const project = TestProject.fromTemplate(engine);
        try {
          project.remove('landing/customers/customers_day1.csv');
          const landed: Landed[] = [];
          let fileOrder = 0;
          for (const [runIndex, files] of runs.entries()) {
            for (const [fileIndex, rows] of files.entries()) {
              const file = `landing/customers/run${runIndex}_file${fileIndex}.csv`;
              project.write(file, `${[HEADER, ...rows.map(csvLine)].join('\n')}\n`);
              rows.forEach((r, i) => landed.push({ ...r, file, fileOrder, rowNumber: i + 1 }));
              fileOrder++;
            }
            const report = await project.run();
            expect(report.status).toBe('success');
            const audit = await project.audit();
            expect(audit.balanced, JSON.stringify(audit.tables)).toBe(true);
          }
          const expected = oracle(landed);
          const silver = await project.rows(`SELECT customer_id, _source_file, _source_row FROM silver.customers`);
          expect(silver.map((r) => `${String(r.customer_id)}|${String(r._source_file)}|${String(r._source_row)}`).sort()).toEqual(expected.survivors);
          const audit = (await project.audit()).tables.find((t) => t.table === 'silver.customers');
          expect(audit).toMatchObject({ bronze: landed.length, quarantined: expected.quarantined, superseded: expected.superseded, lost: 0, unexpected: 0 });
        } finally {
          await project.dispose();
        }
      }),
      { numRuns: 25 },
    );
  }, 240_000);
});
