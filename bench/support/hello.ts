// The hello-world limit: the same Fastify version the service runs, with the service's V8 flags, one JSON route,
// nothing else.
import Fastify from 'fastify'
import { turnOffPretenuring } from '../../src/platform/v8-flags.ts'

turnOffPretenuring()

const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' })
process.stdout.write('listening\n')
