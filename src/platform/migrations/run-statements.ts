import { type Kysely, sql } from 'kysely'

/** Splits a DDL script into statements at semicolons that end a line, outside `$$` bodies. */
export function splitStatements(script: string): string[] {
  const statements: string[] = []
  let current = ''
  let inBody = false
  for (const line of script.split('\n')) {
    if (/^\s*--/.test(line)) continue
    current += `${line}\n`
    if ((line.match(/\$\$/g) ?? []).length % 2 === 1) inBody = !inBody
    if (!inBody && /;\s*$/.test(line)) {
      statements.push(current.trim().replace(/;$/, ''))
      current = ''
    }
  }
  if (current.trim()) statements.push(current.trim())
  return statements.filter((s) => s.length > 0)
}

/** Runs a DDL script one statement at a time: PGlite's query path takes a single statement per call. */
export async function runStatements(db: Kysely<any>, script: string): Promise<void> {
  for (const statement of splitStatements(script)) await sql.raw(statement).execute(db)
}

/** Runs statements one at a time (PGlite's query path takes one per call); new migrations list their statements. */
export async function runEach(db: Kysely<any>, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}
