/** The event-backbone tests' support, by concern; imported through this one file. */
export { type Child, spawnFixture } from '../../support/child-process.ts'
export { counterValue } from '../../support/metrics.ts'
export { type TransportKind, type TransportTarget, transportTargets } from '../../support/transports.ts'
export { percentile, waitFor } from '../../support/wait.ts'
export * from './effects.ts'
export * from './namespaced-transport.ts'
export * from './pipeline.ts'
export * from './rig.ts'
