/**
 * The Node.js versions kubepair runs on, checked by the `kubepair` binary before any command
 * runs. package.json's "engines" says the same (test/unit/cli/node-support.test.ts keeps them
 * in step), but npm only warns about "engines" and installs anyway; on Node.js 20 a dependency
 * then fails as it loads (undici 8, under @kubernetes/client-node 2, needs zlib's zstd), which
 * would reach the user as an internal error with a stack trace. Input: the running Node.js's
 * own version (trusted).
 */
import { KubepairError } from '../errors/index.js';

/** The supported lines: 22 from 22.19.0 (undici 8), and 24 or later. As in package.json "engines". */
export const SUPPORTED_NODE_RANGE = '^22.19.0 || >=24.0.0';
/** The same range as data: [major, minor] of the oldest release of each line; the last line and every later one are accepted. */
const SUPPORTED_LINES: ReadonlyArray<readonly [major: number, minor: number]> = [
  [22, 19],
  [24, 0],
];

/** True when `version` (`X.Y.Z`, as in `process.versions.node`) is in SUPPORTED_NODE_RANGE. */
export function isSupportedNode(version: string): boolean {
  const match = /^v?(\d+)\.(\d+)\.\d+/.exec(version);
  if (match === null) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  const last = SUPPORTED_LINES[SUPPORTED_LINES.length - 1]!;
  if (major > last[0]) return true;
  return SUPPORTED_LINES.some(([lineMajor, lineMinor]) => major === lineMajor && minor >= lineMinor);
}

/** KP_ERR_NODE_UNSUPPORTED when `version` is not supported, naming it and the lines that are. */
export function unsupportedNode(version: string): KubepairError | undefined {
  if (isSupportedNode(version)) return undefined;
  return new KubepairError(
    'KP_ERR_NODE_UNSUPPORTED',
    `this is ${version}; kubepair runs on Node.js 22 (22.19.0 or later) and on Node.js 24 or later (README "Node.js")`,
  );
}
