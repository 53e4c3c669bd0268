import type { ProjectConfig } from './types.js';

/**
 * Declares a Refinery project. It returns its argument unchanged: its job is to give the project file types
 * and completion in the editor. Validation happens when the project is loaded.
 *
 * @example
 * ```ts
 * import { defineProject } from 'refinery';
 *
 * export default defineProject({
 *   name: 'shop',
 *   sources: { orders: { path: 'landing/orders/*.csv' } },
 *   silver: {
 *     orders: {
 *       columns: { order_id: { type: 'integer', clean: ['trim'] }, amount: { type: 'decimal(12,2)' } },
 *       checks: [{ name: 'invalid_order', column: 'order_id', rule: 'not_null' }],
 *       key: 'order_id',
 *     },
 *   },
 *   gold: { revenue: { sql: 'SELECT sum(amount) AS total FROM silver.orders' } },
 * });
 * ```
 */
export function defineProject<const T extends ProjectConfig>(config: T): T {
  return config;
}
