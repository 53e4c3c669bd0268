import type { FileSourceConfig, ProjectConfig } from '../../src/config/types.js';

/** Renders a project file the way a user would write one. */
export function projectFile(config: ProjectConfig): string {
  return `import { defineProject } from 'refinery';\n\nexport default defineProject(${JSON.stringify(config, null, 2)});\n`;
}

/** A small project over one landing zone of people: id (key) and name. */
export function peopleProject(source: Partial<FileSourceConfig> = {}, extra: Partial<ProjectConfig> = {}): string {
  return projectFile({
    name: 'people',
    sources: { people: { path: 'landing/people/*.csv', columns: ['id', 'name'], ...source } },
    silver: {
      people: {
        columns: { id: { type: 'integer', clean: ['trim'] }, name: { clean: ['trim'] } },
        checks: [{ name: 'invalid_id', column: 'id', rule: { min: 1 } }],
        key: 'id',
      },
    },
    ...extra,
  });
}
