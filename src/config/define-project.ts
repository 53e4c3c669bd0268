import type { ProjectConfig, TaskConfig } from './types.js';

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

/**
 * Declares a custom task: a TypeScript function that runs as a step of the graph, after the steps it names.
 *
 * @example
 * ```ts
 * import { defineProject, task } from 'refinery';
 *
 * export default defineProject({
 *   name: 'shop',
 *   tasks: {
 *     'fetch-rates': task({
 *       after: ['silver.customers'],
 *       retry: { attempts: 3, delay: '1s', backoff: 'exponential' },
 *       timeout: '30s',
 *       run: async ({ signal, logger }) => {
 *         const response = await fetch('https://example.com/rates', { signal });
 *         logger.info(`rates: HTTP ${response.status}`);
 *       },
 *     }),
 *   },
 * });
 * ```
 */
export function task<const T extends TaskConfig>(config: T): T {
  return config;
}
