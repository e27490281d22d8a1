import type { TestProject } from 'vitest/node';
import { buildDist } from '../../scripts/build.mjs';
import { adminQuery, createTemplateDatabase, dropDatabase } from './test-db.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Builds dist/ once per run (incremental: only changed files are written, in well under a second),
 * so every test that spawns bin/digestmail.js runs the code of this checkout, never a stale build.
 * Migrates one template database per test run; each test file then gets its own copy with
 * CREATE DATABASE … TEMPLATE, which takes milliseconds and keeps files from seeing each other's rows.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await buildDist({ quiet: true });
  await adminQuery('select 1').catch((error: Error) => {
    throw new Error(
      `the tests need PostgreSQL at ${process.env.TEST_DATABASE_URL ?? '127.0.0.1:5432'}: ${error.message}`,
    );
  });
  const template = await createTemplateDatabase();
  project.provide('templateDatabase', template);
  return async () => {
    await dropDatabase(template);
  };
}
