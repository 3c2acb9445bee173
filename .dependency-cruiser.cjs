// The layer rules of src/ (docs/architecture.md, "Layers"), checked by `npm run lint`.
//
//   cli                       wiring: may import anything, nothing imports it
//   ingress, console          edges: the gateway (ingress) or the stores (console), and everything below
//   gateway                   composition: the stages, the pipeline and the floor
//   stages                    identity policy tasks integrity secrets egress audit downstream observe:
//                             the pipeline's contracts and the floor, never each other
//   pipeline                  the orchestrator and the stage contracts: the floor only
//   floor                     model (types and pure helpers), config (schemas), state (the state file),
//                             src/errors.ts; model imports nothing of the project but errors.ts
//
// Each boundary is one rule, so a new import across it fails with the rule's name and message.

const STAGES = ['identity', 'policy', 'tasks', 'integrity', 'secrets', 'egress', 'audit', 'downstream', 'observe'];

/** What a stage may import besides itself. */
const FLOOR = ['model', 'config', 'state', 'pipeline'];

const stageRules = STAGES.map((stage) => ({
  name: `stage-${stage}-imports-only-the-floor`,
  comment: `src/${stage}/ is a stage: it may import ${FLOOR.join(', ')} and src/errors.ts, never another stage, the gateway, an edge or the cli.`,
  severity: 'error',
  from: { path: `^src/${stage}/` },
  to: {
    path: '^src/',
    pathNot: [`^src/(${stage}|${FLOOR.join('|')})/`, '^src/errors\\.ts$'],
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'model-imports-nothing',
      comment: 'src/model/ is the floor: it may import only src/model/ and src/errors.ts.',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { path: '^src/', pathNot: ['^src/model/', '^src/errors\\.ts$'] },
    },
    {
      name: 'config-and-state-on-the-floor',
      comment:
        'src/config/ and src/state/ are on the floor: they may import only themselves, src/model/ and src/errors.ts.',
      severity: 'error',
      from: { path: '^src/(config|state)/' },
      to: { path: '^src/', pathNot: ['^src/(config|state|model)/', '^src/errors\\.ts$'] },
    },
    {
      name: 'pipeline-imports-only-the-floor',
      comment:
        'src/pipeline/ orders the stages through its own contracts: it may import src/model/, src/config/ and src/errors.ts, never a stage.',
      severity: 'error',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/', pathNot: ['^src/(pipeline|model|config)/', '^src/errors\\.ts$'] },
    },
    ...stageRules,
    {
      name: 'gateway-not-into-edges',
      comment: 'src/gateway/ composes the stages; the edges (ingress, console) and the cli sit above it.',
      severity: 'error',
      from: { path: '^src/gateway/' },
      to: { path: '^src/(ingress|console|cli)/' },
    },
    {
      name: 'ingress-through-the-gateway',
      comment:
        'src/ingress/ hands sessions to the gateway: it may import the gateway, identity (authentication), observe and the floor, never another stage directly.',
      severity: 'error',
      from: { path: '^src/ingress/' },
      to: { path: '^src/(policy|tasks|integrity|secrets|egress|audit|downstream|console|cli)/' },
    },
    {
      name: 'console-beside-the-gateway',
      comment: 'src/console/ reads the stores; it may not import the gateway or the cli.',
      severity: 'error',
      from: { path: '^src/console/' },
      to: { path: '^src/(gateway|cli)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      comment: 'src/cli/ is the wiring at the top: nothing in src/ imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-folder-cycle',
      comment: 'Folders depend one way: no folder of src/ may reach itself through another.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
