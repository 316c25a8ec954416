/**
 * The architecture as rules (docs/architecture.md): folders say where code runs.
 *
 *   crypto/                      GM crypto and encodings: imports nothing of ours
 *   contracts/                   the trade's domain rules: only crypto/
 *   formats/ he/ query/          shared by every party (owner, browser, server, enclave): crypto/, contracts/, each other
 *   enclave/                     holds the keys: shared code only, never server/ or client-sdk/
 *   server/                      never enclave/ (it forks the enclave by file path, and talks formats/enclave-protocol)
 *   client-sdk/                  owners', buyers' and reviewers' machines: shared code only
 *   console/                     the web console, in the browser: shared code and the SDK's clients only
 *   cli/                         programs that join both sides: `shuyu` (client-sdk/cli + server/cli), the demo
 *   store/                       the database engine both servers and enclave workers use (SQLite or PostgreSQL
 *                                through Kysely, transactions, migrations runner): imports nothing of ours; each
 *                                side keeps its own tables and migrations
 *
 * `npm run lint` runs it; test/architecture.test.ts shows it failing on a forbidden import.
 */
const PRODUCT = '^(crypto|contracts|formats|he|query|store|enclave|server|client-sdk|console|cli)/';
const SHARED = '^(formats|he|query)/';

module.exports = {
  forbidden: [
    {
      name: 'crypto-is-the-floor',
      comment: 'GM crypto and encodings depend on nothing else of ours',
      severity: 'error',
      from: { path: '^crypto/' },
      to: { path: PRODUCT, pathNot: '^crypto/' },
    },
    {
      name: 'store-is-an-engine',
      comment: 'store/ opens databases, runs transactions and migrations; it knows no table of the server or the enclave',
      severity: 'error',
      from: { path: '^store/' },
      to: { path: PRODUCT, pathNot: '^store/' },
    },
    {
      name: 'clients-never-open-the-store',
      comment: 'the SDK, the console and shared code never reach the database',
      severity: 'error',
      from: { path: '^(client-sdk|console|formats|he|query|contracts|crypto)/' },
      to: { path: '^store/' },
    },
    {
      name: 'contracts-are-pure',
      comment: 'contracts/ is the domain: it imports only the shared GM crypto',
      severity: 'error',
      from: { path: '^contracts/' },
      to: { path: PRODUCT, pathNot: '^(contracts|crypto)/' },
    },
    {
      name: 'shared-code-runs-everywhere',
      comment: 'formats/, he/ and query/ run on owners\' machines, in the browser, the server and the enclave',
      severity: 'error',
      from: { path: SHARED },
      to: { path: '^(enclave|server|client-sdk|console|cli)/' },
    },
    {
      name: 'enclave-is-the-trust-boundary',
      comment: 'the enclave holds the keys and trusts nothing the server runs: it never imports server/ or client code',
      severity: 'error',
      from: { path: '^enclave/' },
      to: { path: '^(server|client-sdk|console|cli)/' },
    },
    {
      name: 'server-never-holds-keys',
      comment: 'the server starts the enclave by file path and speaks formats/enclave-protocol; only the operator\'s offline commands (server/cli) open enclave/keystore and the state import',
      severity: 'error',
      from: { path: '^server/', pathNot: '^server/cli/' },
      to: { path: '^(enclave|client-sdk|console|cli)/' },
    },
    {
      name: 'server-cli-reaches-only-the-keystore',
      severity: 'error',
      from: { path: '^server/cli/' },
      comment: 'offline operator commands: keystore rotation (enclave/keystore, the state store it opens) and the embedded-to-cluster state import',
      to: { path: '^(enclave|client-sdk|console|cli)/', pathNot: '^(enclave/keystore/|enclave/state/(import|state)\\.ts$|client-sdk/cli/)' },
    },
    {
      name: 'client-sdk-runs-on-user-machines',
      comment: 'the SDK, CLI and sealer never load enclave or server code',
      severity: 'error',
      from: { path: '^client-sdk/' },
      to: { path: '^(enclave|server|console|cli)/' },
    },
    {
      name: 'console-is-a-client',
      comment: 'the browser console uses the SDK and shared code, never server or enclave code',
      severity: 'error',
      from: { path: '^console/' },
      to: { path: '^(enclave|server|cli)/' },
    },
    {
      name: 'no-circular',
      comment: 'a module cycle in product code',
      severity: 'error',
      from: { path: PRODUCT },
      to: { circular: true },
    },
    {
      name: 'product-needs-no-dev-dependency',
      comment: 'production installs with --omit=dev; only the TypeScript-only entries (*.mjs tsx shims) and build scripts may use dev packages',
      severity: 'error',
      from: { path: PRODUCT, pathNot: ['\\.mjs$', '^console/'] },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: PRODUCT },
      // node-seal's package exports name a file its own build resolves
      to: { couldNotResolve: true, pathNot: '^node-seal/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|var)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
    skipAnalysisNotInRules: true,
  },
};
