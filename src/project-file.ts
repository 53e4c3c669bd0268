/**
 * What a project file's `import ... from 'refinery'` resolves to at run time: only the helpers a project file
 * calls, with no heavy imports, so loading `refinery.config.ts` stays fast. Types come from the full package.
 */
export { defineProject } from './config/define-project.js';
