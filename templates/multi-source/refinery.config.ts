import { defineProject } from 'refinery';

/**
 * Lab 3 — Multi-source integration: one customer lives in three systems (CRM, billing, support tickets), each with its
 * own format, vocabulary, update schedule and quality. This project makes the single truth:
 *
 * landing/{crm,billing,support}  →  bronze  →  silver.crm, silver.billing, silver.support   (typed and checked)
 *   →  integrate.customer_master  →  gold.customer_master             one golden record per customer
 *                                     gold.customer_master_provenance  per field: value, source, rule, confidence, candidates
 *                                     gold.customer_master_xref        source record → customer (kept across runs)
 *                                     gold.source_quality              completeness, validity, timeliness, consistency
 *
 * Ask why a value won: `refinery explain customer 1001`. Change a rule below, run again, and every customer is
 * resolved again with the new rule. docs/integration.md explains every formula.
 */
export default defineProject({
  name: 'multi_source',

  sources: {
    crm: { path: 'landing/crm/*.csv', columns: ['customer_id', 'name', 'email', 'status', 'last_update'] },
    billing: { path: 'landing/billing/*.csv', columns: ['cust_id', 'customer_name', 'account_status', 'modified'] },
    support: { path: 'landing/support/*.jsonl', columns: ['id', 'full_name', 'tier', 'updated'] },
  },

  silver: {
    crm: {
      columns: {
        customer_id: { type: 'integer', clean: ['trim'] },
        name: { clean: ['trim', 'collapse_spaces'] },
        email: { clean: ['trim', 'lower'] },
        status: { clean: ['trim'] },
        last_update: { type: 'date', clean: ['trim'] },
      },
      checks: [{ name: 'invalid_customer_id', column: 'customer_id', rule: { min: 1 } }],
      key: 'customer_id',
      latest: 'last_update',
    },
    billing: {
      columns: {
        cust_id: { type: 'integer', clean: ['trim'] },
        customer_name: { clean: ['trim', 'collapse_spaces'] },
        account_status: { clean: ['trim'] },
        modified: { type: 'date', clean: ['trim'] },
      },
      checks: [{ name: 'invalid_cust_id', column: 'cust_id', rule: { min: 1 } }],
      key: 'cust_id',
      latest: 'modified',
    },
    support: {
      columns: {
        id: { type: 'integer', clean: ['trim'] },
        full_name: { clean: ['trim', 'collapse_spaces'] },
        tier: { clean: ['trim'] },
        updated: { type: 'date', clean: ['trim'] },
      },
      checks: [{ name: 'invalid_id', column: 'id', rule: { min: 1 } }],
      key: 'id',
      latest: 'updated',
    },
  },

  integrate: {
    customer_master: {
      entity: 'customer',
      key: 'customer_id',
      // The course names the scorecard gold.source_quality; the other tables take their default names.
      tables: { sourceQuality: 'source_quality' },

      // Mapping: each system's columns → one canonical customer, with each system's own business timestamp.
      sources: {
        crm: { label: 'CRM', table: 'silver.crm', key: 'customer_id', updatedAt: 'last_update', fields: { name: 'name', email: 'email', status: 'status' } },
        billing: {
          table: 'silver.billing',
          key: 'cust_id',
          updatedAt: 'modified',
          fields: { name: 'customer_name', status: 'account_status' },
          // Billing's own status vocabulary → the canonical one.
          values: { status: { ACTIVE: 'active', Act: 'active', A: 'active', S: 'suspended', SUSP: 'suspended' } },
        },
        support: { table: 'silver.support', key: 'id', updatedAt: 'updated', fields: { name: 'full_name', tier: 'tier' } },
      },

      // Records with the same id in the three systems are one customer.
      match: { rules: ['key'] },

      // The provided business rules (survivorship), one chain per field; ties end in source order crm, billing, support.
      fields: {
        // CRM's value; when CRM has none, the longest of the others.
        name: { kind: 'name', rules: [{ source: 'crm' }, 'longest'] },
        // CRM's value.
        email: { kind: 'email', rules: [{ source: 'crm' }], valid: { matches: '^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$' } },
        // Lower-cased; the most recently updated of CRM status and billing account_status; on a tie, billing's.
        status: { clean: ['trim', 'lower'], rules: ['most_recent', { source: 'billing' }], valid: { in: ['active', 'inactive', 'suspended', 'pending', 'closed'] } },
        // Support's value; 'standard' when support has none.
        tier: { clean: ['trim', 'lower'], rules: [{ source: 'support' }], default: 'standard', valid: { in: ['standard', 'premium', 'enterprise'] } },
      },
    },
  },

  gold: {
    contested_fields: {
      description: 'Where the systems disagree: how many customers have each field contested.',
      sql: `
        SELECT field, count(*) AS customers, round(avg(confidence), 2) AS avg_confidence
        FROM gold.customer_master_provenance
        WHERE contested
        GROUP BY field
        ORDER BY customers DESC, field`,
    },
  },
});
