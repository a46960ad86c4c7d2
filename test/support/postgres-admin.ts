import pg from 'pg'

/** The real PostgreSQL server of these machines; TEST_PG_URL overrides (a server URL whose database we may create). */
export const POSTGRES_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Runs one statement as the server's admin user (create and drop databases). Free of node:test, for the benchmarks. */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
