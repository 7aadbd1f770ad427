/**
 * A REAL Secret Service for keychain tests: a private D-Bus session bus (`dbus-daemon` with a
 * generated config, started by the test) on which Debian's gnome-keyring (installed by .ci/run)
 * is D-Bus-activated on first use with an unlocked "login" keyring in a temporary HOME. The
 * bus is the only process the test starts; gnome-keyring is the bus's child and exits when the
 * bus goes away. Activation makes the bus hold the first call until gnome-keyring owns
 * org.freedesktop.secrets, so there is nothing to wait or poll for.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess } from './managed-process.js';
import { privateTempDir } from './relay-process.js';

export interface SecretService {
  /** `DBUS_SESSION_BUS_ADDRESS` of the private bus. */
  readonly address: string;
  /** The keyring's files live under here (HOME of gnome-keyring). */
  readonly dir: string;
  stop(): Promise<void>;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export async function startSecretService(): Promise<SecretService> {
  const dir = await privateTempDir('kubepair-secret-service-');
  const services = join(dir, 'services');
  const home = join(dir, 'home');
  const runtime = join(dir, 'run');
  for (const path of [services, home, runtime]) await mkdir(path, { recursive: true, mode: 0o700 });
  const keyringScript = join(dir, 'start-keyring.sh');
  // --unlock reads the login keyring's password from stdin and creates the keyring on first use.
  await writeFile(keyringScript, "printf '%s' kubepair-test-keyring | exec gnome-keyring-daemon --foreground --components=secrets --unlock\n", { mode: 0o700 });
  await writeFile(
    join(services, 'org.freedesktop.secrets.service'),
    `[D-BUS Service]\nName=org.freedesktop.secrets\nExec=/bin/sh ${keyringScript}\n`,
    { mode: 0o600 },
  );
  const config = join(dir, 'bus.conf');
  await writeFile(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${xmlEscape(join(dir, 'bus'))}</listen>
  <servicedir>${xmlEscape(services)}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
    { mode: 0o600 },
  );
  const bus = startProcess('dbus-daemon', ['--config-file', config, '--nofork', '--print-address=1'], {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_RUNTIME_DIR: runtime,
  });
  try {
    const printed = await bus.waitFor(/^(unix:\S+)$/m, 10_000, 'stdout');
    return {
      address: printed[1]!,
      dir,
      async stop() {
        await bus.stop('SIGTERM', 3000);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await bus.stop('SIGKILL', 1000);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
