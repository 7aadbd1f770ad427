/**
 * Child process for the prompt-marker tests: starts `kubepair connect`'s interactive shell the
 * way connect does (startChildSession with a shell plan), under the pseudo-terminal the test
 * gives it, and exits with the shell's status. The cluster name is passed as is, so a test can
 * hand it a hostile one.
 *
 * Usage: node shell-session-child.js SHELL CLUSTER_NAME SCRATCH_DIR
 */
import { join } from 'node:path';
import { startChildSession } from '../../src/cli/child-session.js';

const [shell = '', clusterName = '', scratchDir = ''] = process.argv.slice(2);
const child = await startChildSession({ plan: { kind: 'shell', shell }, kubeconfigPath: join(scratchDir, 'kubeconfig'), clusterName, scratchDir });
process.exitCode = await child.exited;
