// kafka.sh and docker-compose.yml run brokers with the one list of settings in scripts/kafka/broker.properties.tmpl:
// these tests fail when the committed scripts/kafka/broker.env or the compose services drift from it.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const root = new URL('../../', import.meta.url)
const read = (path: string) => readFile(new URL(path, root), 'utf8')
const KAFKA_SH = fileURLToPath(new URL('scripts/kafka/kafka.sh', root))
const BROKERS = ['kafka-1', 'kafka-2', 'kafka-3']
/** Environment of the apache/kafka image that is not a broker property. */
const NOT_PROPERTIES = new Set(['KAFKA_HEAP_OPTS'])

/** The image's name for a property: KAFKA_ and the name upper-cased, '_' as '__', '-' as '___', '.' as '_'. */
const envName = (property: string) =>
  `KAFKA_${property.replaceAll('_', '__').replaceAll('-', '___').replaceAll('.', '_').toUpperCase()}`

/** The keys of a properties or env file, comments and blank lines aside. */
function keysOf(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.slice(0, line.indexOf('=')))
}

/** The lines of a top-level (indent 0) or service (indent 2) block of docker-compose.yml. */
function yamlBlock(text: string, name: string, indent: number): string[] {
  const lines = text.split('\n')
  const head = `${' '.repeat(indent)}${name}:`
  const start = lines.findIndex((line) => line === head || line.startsWith(`${head} `))
  assert.ok(start >= 0, `docker-compose.yml has no ${name}`)
  const block: string[] = []
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= indent) break
    block.push(line)
  }
  return block
}

const kafkaKeys = (lines: string[]) =>
  lines
    .flatMap((line) => /^\s+(KAFKA_[A-Z0-9_]+):/.exec(line)?.[1] ?? [])
    .filter((k) => !NOT_PROPERTIES.has(k))

test('scripts/kafka/broker.env is what `kafka.sh compose-env` renders from the template', async () => {
  const { stdout } = await promisify(execFile)('bash', [KAFKA_SH, 'compose-env'])
  assert.equal(
    await read('scripts/kafka/broker.env'),
    stdout,
    'stale broker.env: run `bash scripts/kafka/kafka.sh compose-env >scripts/kafka/broker.env` and commit it',
  )
})

test('every template setting reaches each compose broker once: from broker.env or from its own service', async () => {
  const template = keysOf(await read('scripts/kafka/broker.properties.tmpl')).map(envName)
  const fromEnvFile = keysOf(await read('scripts/kafka/broker.env'))
  assert.deepEqual(
    fromEnvFile.filter((k) => !template.includes(k)),
    [],
    'broker.env sets what the template does not',
  )
  const perNode = template.filter((k) => !fromEnvFile.includes(k)).sort()
  assert.deepEqual(perNode, ['KAFKA_ADVERTISED_LISTENERS', 'KAFKA_LISTENERS', 'KAFKA_NODE_ID'])

  const compose = await read('docker-compose.yml')
  const shared = kafkaKeys(yamlBlock(compose, 'x-kafka-env', 0))
  assert.deepEqual(shared, [], 'x-kafka-env repeats broker settings: they belong in broker.properties.tmpl')
  for (const name of BROKERS) {
    const service = yamlBlock(compose, name, 2)
    assert.ok(
      service.some((line) => line.trim() === 'env_file: scripts/kafka/broker.env'),
      `${name} does not read scripts/kafka/broker.env`,
    )
    assert.deepEqual(kafkaKeys(service).sort(), perNode, `${name} sets exactly the per-node settings`)
  }
})

test('compose runs the Kafka version that kafka.sh resolves by default', async () => {
  const version = /KAFKA_VERSION="\$\{KAFKA_VERSION:-([^}]+)\}"/.exec(
    await read('scripts/kafka/kafka.sh'),
  )?.[1]
  assert.ok(version, 'kafka.sh has no default KAFKA_VERSION')
  const compose = await read('docker-compose.yml')
  for (const name of BROKERS)
    assert.ok(
      yamlBlock(compose, name, 2).some((line) => line.trim() === `image: apache/kafka:${version}`),
      `${name} does not run apache/kafka:${version}`,
    )
})
