#!/usr/bin/env node
/**
 * Builds the package's CLI with esbuild (issue 15, start-up): `npm run build` and `npm pack`'s
 * prepack step. src/ and every dependency that can be bundled go into one bundle, so that the
 * installed package needs from the registry only what cannot be bundled:
 *
 *   dist/cli/main.js        the binary: the Node.js version check and V8's compile cache
 *                           (src/cli/main.ts, src/cli/compile-cache.ts), then it imports
 *   dist/cli/run-cli.js     the command line, which loads each command's code when it runs:
 *   dist/cli/chunks/*.js    that code, split where src/ imports it lazily (`await import`);
 *   dist/cli/connect-cli.js or, for `kubepair connect CODE ...` (src/cli/cli-entry.ts), this
 *                           one file instead: connect's command line and all the code it runs,
 *                           its lazy imports included (evaluated when reached, as before).
 *
 * Split, not one file: measured (docs/performance.md "Start-up"), a single 6 MB file made
 * every command pay for all of them (`kubepair --version` cost more CPU than with tsc's build);
 * split along the lazy imports src/ already has, `--version` and the connect path cost about a
 * third less CPU than tsc's build. connect, whose start to first byte is measured against
 * `ssh -W` (issue 15), is one file of its own besides (about 0.4 MB the package holds twice):
 * loading its fifty-odd chunks through Node.js's ES module loader (each resolved, stat'ed,
 * read, compiled and linked) was a quarter of its CPU to the first byte (docs/performance.md
 * "Start to first byte, sixth pass"); the build fails if that file imports another of its own.
 * main.ts compiles it with V8's lazy compilation off, so that its compile cache holds every
 * function (src/cli/eager-compile.ts); its first statement, put there here, turns it back on.
 * Identifiers are shortened (names of functions and classes
 * kept: error names and logs use them), which cut about another 10% of start-up CPU. The
 * compile cache covers only code loaded after it is enabled: main.js enables it, then loads
 * the rest. Node.js builtins stay imports; so do the packages in RUNTIME_PACKAGES, which ship
 * native code (a `.node` file per platform) that a bundle cannot hold: they stay
 * `dependencies` in package.json and are loaded lazily where used. The build fails if the
 * bundle imports any other package at run time (a dependency missing from an installed
 * package).
 * Node.js builtins imported by an `import` statement are loaded with `require` instead
 * (builtinsThroughRequire below): an `import ... from 'node:http'` makes Node.js build an ES
 * module facade of the builtin, which reads every export, and so runs each lazy getter: for
 * node:http that loads undici (its WebSocket and EventSource), for node:crypto WebCrypto. Measured
 * on the connect path (docs/performance.md "Start-up"), those facades were about a tenth of its
 * CPU; `require` returns the builtin's exports object and reads nothing.
 * No source map: users see one-line messages, never stack traces, and a map would double the
 * package's size. The bundled packages' licenses (name, version, license and the text of their
 * license file) go into dist/THIRD-PARTY-NOTICES.txt, as their licenses ask of copies.
 *
 * Source rewrite (one, checked): src/ loads some CommonJS packages with
 * `createRequire(import.meta.url)(...)` (cheaper than an ESM import for tsc's build, see
 * src/ws-runtime.ts); esbuild bundles only a plain `require('name')`, so in src/ files that
 * call becomes `require(...)` before bundling (any other use of it fails the build). The
 * bundle defines `require` for those calls and for the CommonJS dependencies that load the
 * native packages themselves (ws's optional `require('bufferutil')`).
 *
 *   node scripts/bundle.mjs            build into dist/ (replaces dist/ first)
 *
 * Input: the repository's own files and node_modules (trusted).
 */
import { readdirSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'dist');
/**
 * Packages left out of the bundle and installed from the registry: package.json's
 * "dependencies" are exactly these (test/e2e/installed-package checks), each with why; README
 * "Dependencies" says the same.
 */
const RUNTIME_PACKAGES = new Map([
  ['bufferutil', 'native WebSocket masking (a prebuilt .node per platform); ws falls back to JavaScript without it'],
  ['@napi-rs/keyring', 'the OS keychain through a native addon, one optional package per platform'],
]);
/**
 * Optional native packages that bundled code tries to load in a try/catch and that kubepair does
 * not install, before or after bundling: left as run-time imports that fail the same way.
 */
const ABSENT_OPTIONAL_PACKAGES = new Map([
  ['utf-8-validate', 'ws: without it ws checks UTF-8 with buffer.isUtf8'],
  ['@node-rs/xxhash', '@redis/client: only for its digest() helper, which the relay does not call'],
  ['kerberos', 'https-proxy-agent (proxy-agent-negotiate): only for Negotiate (Kerberos) proxy authentication, which needs it'],
]);
/** Node.js versions the output must run on: the oldest supported line (src/cli/node-support.ts). */
const TARGET = 'node22';
/** main.ts's import of src/cli/heap-flag-reset.ts: it must run before any other module of main.js loads. */
const HEAP_FLAG_RESET_IMPORT = './heap-flag-reset.js';

/** What the src/ rewrite replaces (see the header). */
const CREATE_REQUIRE_CALL = /createRequire\(import\.meta\.url\)\(/g;
const CREATE_REQUIRE_CONST = /^const require = createRequire\(import\.meta\.url\);$/m;
/** dist/cli/connect-cli.js's first statement: V8 compiles lazily again once it is compiled (src/cli/eager-compile.ts AFTER_COMPILE). */
const AFTER_COMPILE_CALL = "globalThis[Symbol.for('kubepair.afterCompile')]?.();";
/** Gives the bundle a CommonJS `require` (for the rewritten calls and for external packages). */
const BANNER = "import { createRequire as kubepairCreateRequire } from 'node:module';\nconst require = kubepairCreateRequire(import.meta.url);";

/**
 * main.ts's imports of the entry modules (src/cli/cli-entry.ts), left as imports of
 * dist/cli/run-cli.js and connect-cli.js, and of heap-flag-reset.js, a file of its own that
 * main.js imports first of all (writeLaunchLine).
 */
const ENTRY_IMPORTS = new Set(['./run-cli.js', './connect-cli.js', HEAP_FLAG_RESET_IMPORT]);

/** esbuild plugin: the src/ rewrite, and main.ts's imports of the entry modules left as imports. */
const kubepairSources = {
  name: 'kubepair-sources',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\/(?:run-cli|connect-cli|heap-flag-reset)\.js$/ }, (args) =>
      relative(ROOT, args.importer) === join('src', 'cli', 'main.ts') ? { path: args.path, external: true } : undefined,
    );
    pluginBuild.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('createRequire(import.meta.url)')) return { contents: text, loader: 'ts' };
      const rewritten = text.replace(CREATE_REQUIRE_CONST, '').replace(CREATE_REQUIRE_CALL, 'require(');
      if (rewritten.includes('createRequire(import.meta.url)')) {
        return { errors: [{ text: `${relative(ROOT, args.path)}: createRequire(import.meta.url) used in a form scripts/bundle.mjs does not rewrite` }] };
      }
      return { contents: rewritten, loader: 'ts' };
    });
  },
};

/** Node.js's builtin modules, with and without the `node:` prefix. */
const BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const BUILTIN_NAMESPACE = 'kubepair-builtin';

/**
 * esbuild plugin: an `import` statement of a Node.js builtin becomes a CommonJS module that
 * `require`s it (the banner's `require`), so Node.js builds no ES module facade (see the
 * header). Dynamic `import()` and `require` calls of builtins are left as they are.
 */
const builtinsThroughRequire = {
  name: 'builtins-through-require',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^(?:node:)?[a-z0-9_/]+$/ }, (args) =>
      args.kind === 'import-statement' && BUILTINS.has(args.path) ? { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: BUILTIN_NAMESPACE } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: BUILTIN_NAMESPACE }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/** The packages (not Node.js builtins) the bundle still imports at run time. */
function runtimeImports(metafile) {
  const builtins = BUILTINS;
  const names = new Set();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (!imported.external || builtins.has(imported.path) || imported.path.startsWith('node:') || ENTRY_IMPORTS.has(imported.path)) continue;
      names.add(imported.path.startsWith('@') ? imported.path.split('/').slice(0, 2).join('/') : imported.path.split('/')[0]);
    }
  }
  return [...names].sort();
}

/**
 * zod's locales other than English that made it into the bundle. `import { z } from 'zod'`
 * takes zod's namespace object as a value, which esbuild keeps whole: every locale (about 250 kB)
 * and the JSON Schema code, loaded by every command (issue 15, start-up). `import * as z` lets
 * it keep only what src/ uses, English messages included (zod sets them when it loads).
 */
function zodLocalesIn(metafile) {
  const locales = new Set();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/zod\/.*\/locales\/([\w-]+)\.js$/.exec(input);
      if (match !== null && match[1] !== 'en' && match[1] !== 'index' && bytesInOutput > 0) locales.add(match[1]);
    }
  }
  return [...locales].sort();
}

/** The directory of each package (node_modules/NAME or node_modules/@SCOPE/NAME) the bundle took code from. */
function bundledPackageDirs(metafile) {
  const dirs = new Set();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (match !== null && bytesInOutput > 0) dirs.add(match[1]);
    }
  }
  return [...dirs].sort();
}

/** dist/THIRD-PARTY-NOTICES.txt: each bundled package with its license text (or, when it ships none, its license field). */
async function writeNotices(metafile) {
  const sections = [];
  const missing = [];
  for (const dir of bundledPackageDirs(metafile)) {
    const manifest = JSON.parse(await readFile(join(ROOT, dir, 'package.json'), 'utf8'));
    const licenseFile = readdirSync(join(ROOT, dir)).find((name) => /^licen[cs]e(?:\.(?:md|txt))?$/i.test(name));
    const licensed = `${manifest.name}@${manifest.version} (${typeof manifest.license === 'string' ? manifest.license : 'no license field'})`;
    if (licenseFile !== undefined) {
      sections.push(`${licensed}\n\n${(await readFile(join(ROOT, dir, licenseFile), 'utf8')).trim()}\n`);
    } else if (typeof manifest.license === 'string') {
      sections.push(`${licensed}\n\nThe package ships no license file; its package.json names the license ${manifest.license}.\n`);
    } else {
      missing.push(`${manifest.name}@${manifest.version}`);
    }
  }
  if (missing.length > 0) throw new Error(`neither a license file nor a license field in ${missing.join(', ')}: find its license and add its notice by hand before bundling it`);
  const header = `kubepair's dist/cli/*.js bundle these ${sections.length} packages (scripts/bundle.mjs); their licenses follow.\n`;
  await writeFile(join(OUT_DIR, 'THIRD-PARTY-NOTICES.txt'), [header, ...sections].join(`\n${'-'.repeat(78)}\n\n`));
  return sections.length;
}

/**
 * esbuild keeps main.ts's `#!/bin/sh` line but drops comments, and the second line, a comment
 * to Node.js, is what the shell runs (`exec node FLAGS "$0" "$@"`, src/cli/node-flags.ts): put
 * it back under the `#!` line of dist/cli/main.js.
 */
async function writeLaunchLine() {
  const [shebang, launch] = (await readFile(join(ROOT, 'src', 'cli', 'main.ts'), 'utf8')).split('\n', 2);
  const resetImport = `import"${HEAP_FLAG_RESET_IMPORT}";`;
  if (shebang !== '#!/bin/sh' || !launch.startsWith("':' + /*; exec node ")) {
    throw new Error('bundle: src/cli/main.ts must start with the two launch lines of src/cli/node-flags.ts');
  }
  const file = join(OUT_DIR, 'cli', 'main.js');
  const bundled = await readFile(file, 'utf8');
  if (!bundled.startsWith(`${shebang}\n`)) throw new Error('bundle: dist/cli/main.js lost its #! line');
  // ES modules run their imports in the order written: the heap flag's reset goes first, before
  // the banner's and the chunks' (esbuild puts an external import after those).
  const rest = bundled.slice(shebang.length + 1);
  if (rest.split(resetImport).length !== 2) throw new Error(`bundle: dist/cli/main.js should import ${HEAP_FLAG_RESET_IMPORT} once`);
  await writeFile(file, `${shebang}\n${launch}\n${resetImport}\n${rest.replace(resetImport, '')}`);
}

/** The files of the bundle's own an output imports (chunks, other entry points), by output path. */
function ownImports(metafile) {
  return Object.entries(metafile.outputs).flatMap(([path, output]) => output.imports.filter((imported) => !imported.external || ENTRY_IMPORTS.has(imported.path)).map((imported) => `${path} -> ${imported.path}`));
}

async function main() {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const common = {
    absWorkingDir: ROOT,
    outdir: OUT_DIR,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: TARGET,
    external: [...RUNTIME_PACKAGES.keys(), ...ABSENT_OPTIONAL_PACKAGES.keys()],
    banner: { js: BANNER },
    minify: true,
    keepNames: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    plugins: [kubepairSources, builtinsThroughRequire],
  };
  const split = await build({
    ...common,
    entryPoints: { 'cli/main': 'src/cli/main.ts', 'cli/run-cli': 'src/cli/run-cli.ts' },
    splitting: true,
    chunkNames: 'cli/chunks/[name]-[hash]',
  });
  // connect's entry as one file (see the header): no splitting, its `import()`s bundled inside.
  // Its first statement puts V8's lazy compilation back on (src/cli/eager-compile.ts).
  const connect = await build({
    ...common,
    entryPoints: { 'cli/connect-cli': 'src/cli/connect-cli.ts' },
    splitting: false,
    banner: { js: `${BANNER}\n${AFTER_COMPILE_CALL}` },
  });
  // The heap flag's reset as a file of its own (src/cli/heap-flag-reset.ts), which main.js imports first.
  const reset = await build({ ...common, entryPoints: { 'cli/heap-flag-reset': 'src/cli/heap-flag-reset.ts' }, splitting: false });
  const connectImports = ownImports(connect.metafile);
  if (connectImports.length > 0) {
    process.stderr.write(`bundle: dist/cli/connect-cli.js must be one file, but imports ${connectImports.join(', ')}\n`);
    process.exitCode = 1;
    return;
  }
  const result = { metafile: { outputs: { ...split.metafile.outputs, ...connect.metafile.outputs, ...reset.metafile.outputs } } };
  const unexpected = runtimeImports(result.metafile).filter((name) => !RUNTIME_PACKAGES.has(name) && !ABSENT_OPTIONAL_PACKAGES.has(name));
  if (unexpected.length > 0) {
    process.stderr.write(`bundle: the bundle would import ${unexpected.join(', ')} at run time; bundle it or add it to RUNTIME_PACKAGES or ABSENT_OPTIONAL_PACKAGES with the reason\n`);
    process.exitCode = 1;
    return;
  }
  const zodLocales = zodLocalesIn(result.metafile);
  if (zodLocales.length > 0) {
    process.stderr.write(`bundle: zod's ${zodLocales.join(', ')} would be bundled (src/ must import * as z from 'zod', not { z }; docs/performance.md "Start-up")\n`);
    process.exitCode = 1;
    return;
  }
  await writeLaunchLine();
  const notices = await writeNotices(result.metafile);
  process.stderr.write(`bundle: ${notices} bundled packages, their licenses in dist/THIRD-PARTY-NOTICES.txt\n`);
  const outputs = Object.values(result.metafile.outputs);
  const bytes = outputs.reduce((sum, output) => sum + output.bytes, 0);
  process.stderr.write(`bundle: ${outputs.length} files in dist/cli/, ${(bytes / 1e6).toFixed(2)} MB\n`);
}

await main();
