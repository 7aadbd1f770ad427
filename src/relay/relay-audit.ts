/**
 * The relay audit log (DESIGN §6, §7; seeds/003 "audited connects"): one JSON line per session
 * lifecycle event, socket connect/disconnect, authentication failure and limit hit, written
 * through the shared append-only AuditLog (0600, redacted).
 *
 * Failure policy: API operations await `record` and answer 503 when it fails, so no session is
 * created or claimed unrecorded; socket events use `note`, which logs a failed write loudly and
 * marks the relay not ready instead of tearing down live sessions. Field values are relay-made
 * (ids, names, addresses, reasons); none is a secret.
 */
import type { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.js';
import { describeError } from './relay-log.js';

export type RelayAuditEvent =
  | 'relay_started'
  | 'relay_stopped'
  | 'session_created'
  | 'session_claimed'
  | 'pairing_attempt_failed'
  | 'session_established'
  | 'session_expired'
  | 'session_destroyed'
  | 'socket_connected'
  | 'socket_disconnected'
  | 'socket_refused'
  | 'auth_failed'
  | 'limit_hit'
  | 'protocol_violation'
  | 'admin_action';

export type AuditFieldValue = string | number | boolean | null | undefined;

export class RelayAudit {
  readonly #log: AuditLog;
  readonly #logger: Logger;
  #healthy = true;

  private constructor(log: AuditLog, logger: Logger) {
    this.#log = log;
    this.#logger = logger;
  }

  static async open(path: string, logger: Logger): Promise<RelayAudit> {
    return new RelayAudit(await AuditLog.open({ path }), logger);
  }

  /** False after a failed write (readiness turns 503). */
  get healthy(): boolean {
    return this.#healthy;
  }

  get path(): string {
    return this.#log.path;
  }

  /** Append one event; rejects (KP_ERR_AUDIT_WRITE) when it cannot be written. */
  async record(event: RelayAuditEvent, fields: Readonly<Record<string, AuditFieldValue>>): Promise<void> {
    try {
      await this.#log.append({ time: new Date().toISOString(), component: 'relay', event, ...fields });
    } catch (err) {
      this.#healthy = false;
      this.#logger.error({ event: 'audit_write_failed', audit_event: event, err: describeError(err) }, 'the relay audit log cannot be written');
      throw err;
    }
  }

  /** Append one event without waiting; a failure is logged (by `record`) and marks the relay not ready. */
  note(event: RelayAuditEvent, fields: Readonly<Record<string, AuditFieldValue>>): void {
    this.record(event, fields).catch((err: unknown) => {
      this.#logger.debug({ event: 'audit_note_failed', err: describeError(err) }, 'audit event not written');
    });
  }

  close(): Promise<void> {
    return this.#log.close();
  }
}
