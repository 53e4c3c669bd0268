/**
 * What a project file's `import ... from 'refinery'` resolves to at run time: only the helpers a project file
 * calls, with no heavy imports, so loading `refinery.config.ts` stays fast. Types come from the full package.
 */
export { defineProject, task } from './config/define-project.js';
export { FatalError } from './orchestrator/fatal-error.js';
