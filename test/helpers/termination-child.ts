/**
 * Child process for connect-termination tests: installs ConnectTermination as connect does,
 * writes a kubeconfig the way connect does, prints its path, then fails the way a bug would —
 * an uncaught exception or an unhandled rejection — so the test can check what the user sees
 * and that the kubeconfig is gone.
 *
 * Usage: node termination-child.js DIR throw|reject
 */
import { ConnectTermination } from '../../src/cli/connect-termination.js';
import { TempKubeconfig } from '../../src/client/kubeconfig.js';

const [dir = '', how = 'throw'] = process.argv.slice(2);
new ConnectTermination().install();
const kubeconfig = await TempKubeconfig.create(dir, {
  clusterName: 'crash',
  server: 'https://127.0.0.1:1',
  caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
  user: { token: 'secret-token' },
});
process.stdout.write(`${kubeconfig.path}\n`);
setTimeout(() => {
  if (how === 'throw') throw new Error('a bug \u001b]0;title\u0007');
  void Promise.reject(new Error('a bug in a promise'));
}, 10);
