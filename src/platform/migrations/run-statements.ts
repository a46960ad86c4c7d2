import { type Kysely, sql } from 'kysely'

/** Runs a DDL script one statement at a time: PGlite's query path takes a single statement per call. */
export async function runStatements(db: Kysely<any>, script: string): Promise<void> {
  const statements = script
    .split(/;\s*\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0)
  for (const statement of statements) await sql.raw(statement).execute(db)
}
