const path = require('node:path');
const { buildSync } = require('esbuild');

/**
 * jest (CommonJS mode, which PGlite's dynamic imports need with --experimental-vm-modules) cannot
 * require packages that ship only ES modules. Those packages are bundled once per test run into
 * CommonJS files under node_modules/.cache, which jest.config.js maps the package names to. The
 * code tested is the package's own, only repackaged; the server itself loads them natively.
 */
const PACKAGES = {
  jose: { entry: 'jose', external: [] },
  'oidc-provider': { entry: 'oidc-provider', external: ['jose', 'koa', 'debug'] },
  // It imports jose's subpath modules, so it carries its own copy of jose.
  'openid-client': { entry: 'openid-client', external: [] },
};

const OUT = path.join(__dirname, '..', '..', 'node_modules', '.cache', 'esm-to-cjs');

function outFile(name) {
  return path.join(OUT, `${name}.cjs`);
}

module.exports = async function globalSetup() {
  for (const [name, { entry, external }] of Object.entries(PACKAGES)) {
    buildSync({
      entryPoints: [require.resolve(entry)],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: outFile(name),
      external,
      logLevel: 'error',
    });
  }
};

module.exports.moduleNameMapper = Object.fromEntries(
  Object.keys(PACKAGES).map((name) => [`^${name.replace(/[-/]/g, '\\$&')}$`, outFile(name)]),
);
