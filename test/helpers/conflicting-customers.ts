/**
 * Conflicting customers for the multi-source template, and an independent statement of the template's provided rules
 * in plain TypeScript (the oracle the engine's result is compared with). Deterministic: a seeded generator.
 */
export interface CrmRow { id: number; name: string; email: string; status: string; lastUpdate: string }
export interface BillingRow { id: number; name: string; status: string; modified: string }
export interface SupportRow { id: number; name: string; tier: string | null; updated: string }

export interface Customers {
  readonly crm: CrmRow[];
  readonly billing: BillingRow[];
  readonly support: SupportRow[];
}

function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Anna', 'Ben', 'Carla', 'David', 'Elena', 'Farid', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Kira', 'Liam'];
const LAST = ['Novak', 'Okafor', 'Pereira', 'Quinn', 'Rossi', 'Sato', 'Tanaka', 'Ulrich', 'Varga', 'Weber'];
const CRM_STATUS = ['active', 'Active', ' ACTIVE ', 'inactive', 'suspended', 'pending', ''];
const BILLING_STATUS = ['ACTIVE', 'Act', 'A', 'active', 'suspended', 'SUSP', 'S', 'inactive', 'closed', ''];
const TIERS = ['standard', 'premium', 'Premium ', 'enterprise', null];

export function conflictingCustomers(count: number, seed: number, firstId = 5000): Customers {
  const random = generator(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const day = (): string => `2024-02-${String(1 + Math.floor(random() * 9)).padStart(2, '0')}`;
  const crm: CrmRow[] = [];
  const billing: BillingRow[] = [];
  const support: SupportRow[] = [];
  for (let i = 0; i < count; i++) {
    const id = firstId + i;
    const first = pick(FIRST);
    const last = pick(LAST);
    const variants = [`${first} ${last}`, `${first[0]}. ${last}`, `${first} ${last[0]}.`, `${first}  ${last}`, `${first.toUpperCase()} ${last.toUpperCase()}`, `${pick(FIRST)} ${last}`, `Dr. ${first} ${last}`];
    // Every customer is in at least one system; most are in two or three.
    let inCrm = random() < 0.75;
    const inBilling = random() < 0.75;
    const inSupport = random() < 0.6;
    if (!inCrm && !inBilling && !inSupport) inCrm = true;
    if (inCrm) crm.push({ id, name: random() < 0.1 ? '' : pick(variants), email: random() < 0.15 ? '' : `${first}.${last}${i}@example.com`.toLowerCase(), status: pick(CRM_STATUS), lastUpdate: day() });
    if (inBilling) billing.push({ id, name: pick(variants), status: pick(BILLING_STATUS), modified: day() });
    if (inSupport) support.push({ id, name: pick(variants), tier: pick(TIERS), updated: day() });
  }
  return { crm, billing, support };
}

export function toLandingFiles(c: Customers): Record<string, string> {
  return {
    'landing/crm/crm_unseen.csv': ['customer_id,name,email,status,last_update', ...c.crm.map((r) => `${r.id},${r.name},${r.email},${r.status},${r.lastUpdate}`)].join('\n') + '\n',
    'landing/billing/billing_unseen.csv': ['cust_id,customer_name,account_status,modified', ...c.billing.map((r) => `${r.id},${r.name},${r.status},${r.modified}`)].join('\n') + '\n',
    'landing/support/support_unseen.jsonl': c.support.map((r) => JSON.stringify({ id: r.id, full_name: r.name, tier: r.tier, updated: r.updated })).join('\n') + '\n',
  };
}

export interface GoldenCustomer {
  customer_id: string;
  name: string | null;
  email: string | null;
  status: string | null;
  tier: string;
}

const clean = (s: string | null | undefined): string | null => {
  const t = (s ?? '').trim().replace(/\s+/g, ' ');
  return t === '' ? null : t;
};
const BILLING_VOCABULARY: Record<string, string> = { ACTIVE: 'active', Act: 'active', A: 'active', S: 'suspended', SUSP: 'suspended' };

/** The template's provided business rules, written out by hand. */
export function applyProvidedRules(c: Customers): GoldenCustomer[] {
  const ids = [...new Set([...c.crm, ...c.billing, ...c.support].map((r) => r.id))].sort((a, b) => a - b);
  return ids.map((id) => {
    const crm = c.crm.find((r) => r.id === id);
    const billing = c.billing.find((r) => r.id === id);
    const support = c.support.find((r) => r.id === id);
    // name: CRM's value; when CRM has none, the longest of the others (a tie goes to billing, the earlier source).
    const others = [clean(billing?.name), clean(support?.name)].filter((n): n is string => n !== null);
    const longest = others.reduce<string | null>((best, n) => (best === null || n.length > best.length ? n : best), null);
    const name = clean(crm?.name) ?? longest;
    // email: CRM's value (silver lower-cases it).
    const email = clean(crm?.email)?.toLowerCase() ?? null;
    // status, lower-cased: the most recently updated of CRM's and billing's; on a tie, billing's.
    const crmStatus = clean(crm?.status)?.toLowerCase() ?? null;
    const rawBilling = clean(billing?.status);
    const billingStatus = rawBilling === null ? null : (BILLING_VOCABULARY[rawBilling] ?? rawBilling).toLowerCase();
    let status: string | null = null;
    if (crmStatus !== null && billingStatus !== null) status = (crm?.lastUpdate ?? '') > (billing?.modified ?? '') ? crmStatus : billingStatus;
    else status = crmStatus ?? billingStatus;
    // tier: support's value (lower-cased); 'standard' when support has none.
    const tier = clean(support?.tier)?.toLowerCase() ?? 'standard';
    return { customer_id: String(id), name, email, status, tier };
  });
}
