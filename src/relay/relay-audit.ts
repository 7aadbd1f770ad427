/**
 * The relay audit log (docs/design.md §6, §7; seeds/003 "audited connects"): one JSON line per
 * session lifecycle event, socket connect/disconnect and limit hit, and summed records for the
 * refusals an address can cause at will (refusal-audit.ts), written through the shared
 * append-only AuditLog (0600, redacted).
 *
 * Failure policy: API operations await `record` and answer 503 when it fails, so no session is
 * created or claimed unrecorded; socket events use `note`, which logs a failed write loudly and
 * marks the relay not ready instead of tearing down live sessions. At most `backlog` records
 * wait for the disk; more are refused at once (KP_ERR_AUDIT_BACKLOG) instead of queueing
 * without bound.
 *
 * Recovery: after a failed or refused write the relay is not ready, and it tries every
 * RELAY_AUDIT_RECOVERY_RETRY_MS to write one `audit_records_lost` record (how many records were
 * lost, since when, the last reason). That record queues behind everything already waiting, so
 * it is written once the backlog has drained and the disk takes writes again; then the relay is
 * ready again. The gap is never silent: the log itself says what is missing.
 *
 * Field values are relay-made (ids, names, addresses, reasons); none is a secret.
 */
import type { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { RELAY_AUDIT_RECOVERY_RETRY_MS } from '../limits.js';
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
  | 'session_suspended'
  | 'session_resumed'
  | 'session_recreated'
  | 'session_ended_elsewhere'
  | 'socket_replaced'
  | 'socket_connected'
  | 'socket_disconnected'
  | 'socket_refused'
  | 'auth_failed'
  | 'limit_hit'
  | 'refusals_summary'
  | 'protocol_violation'
  | 'admin_action'
  | 'audit_records_lost';

export type AuditFieldValue = string | number | boolean | null | undefined;

/** Where `note` sends events (a narrow view, so aggregators can be tested without a file). */
export interface RelayAuditSink {
  note(event: RelayAuditEvent, fields: Readonly<Record<string, AuditFieldValue>>): void;
}

export interface RelayAuditOptions {
  readonly path: string;
  readonly logger: Logger;
  /** Most records waiting for the disk before more are refused. */
  readonly backlog: number;
}

/** Records that could not be written since the last successful `audit_records_lost`. */
interface Loss {
  count: number;
  since: string;
  reason: string;
}

export class RelayAudit implements RelayAuditSink {
  readonly #log: AuditLog;
  readonly #logger: Logger;
  readonly #backlog: number;
  #waiting = 0;
  /** Refusals already counted as lost when they were made. */
  readonly #counted = new WeakSet<Error>();
  #loss: Loss | undefined;
  #retry: NodeJS.Timeout | undefined;
  #recovering = false;
  #closed = false;

  private constructor(log: AuditLog, options: RelayAuditOptions) {
    this.#log = log;
    this.#logger = options.logger;
    this.#backlog = options.backlog;
  }

  static async open(options: RelayAuditOptions): Promise<RelayAudit> {
    return new RelayAudit(await AuditLog.open({ path: options.path }), options);
  }

  /** False from a failed write until the loss is recorded (readiness turns 503 meanwhile). */
  get healthy(): boolean {
    return this.#loss === undefined;
  }

  get path(): string {
    return this.#log.path;
  }

  /** Append one event; rejects (KP_ERR_AUDIT_WRITE, KP_ERR_AUDIT_BACKLOG) when it cannot be written. */
  record(event: RelayAuditEvent, fields: Readonly<Record<string, AuditFieldValue>>): Promise<void> {
    return this.#append(event, fields).catch((err: unknown) => {
      // A refusal over the backlog was counted when it happened; a failed write is counted now.
      if (!(err instanceof Error && this.#counted.has(err))) this.#lost(event, err);
      throw err;
    });
  }

  /** Append one event without waiting; a failure is logged (by `record`) and marks the relay not ready. */
  note(event: RelayAuditEvent, fields: Readonly<Record<string, AuditFieldValue>>): void {
    this.record(event, fields).catch((err: unknown) => {
      this.#logger.debug({ event: 'audit_note_failed', err: describeError(err) }, 'audit event not written');
    });
  }

  /** Stop retrying, try once more to record a loss, then close the file. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#loss !== undefined) await this.#recordLoss().catch(() => undefined);
    await this.#log.close();
  }

  /** Queue one record; over the backlog it is refused at once, and the refusal counted before this returns. */
  #append(event: RelayAuditEvent, fields: Readonly<Record<string, AuditFieldValue>>): Promise<void> {
    if (this.#waiting >= this.#backlog) {
      const refused = new KubepairError('KP_ERR_AUDIT_BACKLOG', `${this.#waiting} relay audit records are waiting for ${this.path}`);
      if (event !== 'audit_records_lost') this.#lost(event, refused);
      this.#counted.add(refused);
      return Promise.reject(refused);
    }
    this.#waiting++;
    return this.#log.append({ time: new Date().toISOString(), component: 'relay', event, ...fields }).finally(() => {
      this.#waiting--;
    });
  }

  /** Count a record that was not written and arrange for the loss to be recorded. */
  #lost(event: RelayAuditEvent, err: unknown): void {
    const error = toKubepairError(err, 'KP_ERR_AUDIT_WRITE');
    const first = this.#loss === undefined;
    if (this.#loss === undefined) this.#loss = { count: 0, since: new Date().toISOString(), reason: error.code };
    this.#loss.count++;
    this.#loss.reason = error.code;
    // One error line when the trouble starts; the lost records are counted, not each logged.
    if (first) this.#logger.error({ event: 'audit_write_failed', audit_event: event, err: describeError(err) }, 'the relay audit log cannot be written');
    this.#scheduleRecovery();
  }

  #scheduleRecovery(): void {
    if (this.#retry !== undefined || this.#recovering || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#recovering = true;
      this.#recordLoss()
        .then(() => {
          if (this.#loss === undefined) this.#logger.info({ event: 'audit_write_recovered' }, 'the relay audit log is writable again; the lost records are counted in it');
        })
        .catch((err: unknown) => this.#logger.debug({ event: 'audit_recovery_failed', err: describeError(err) }, 'the relay audit log is still not writable'))
        .finally(() => {
          this.#recovering = false;
          if (this.#loss !== undefined) this.#scheduleRecovery();
        });
    }, RELAY_AUDIT_RECOVERY_RETRY_MS);
    this.#retry.unref();
  }

  /** Write the `audit_records_lost` record; on success the lost records it names are settled. */
  async #recordLoss(): Promise<void> {
    const loss = this.#loss;
    if (loss === undefined) return;
    const settled = loss.count;
    try {
      await this.#append('audit_records_lost', { count: settled, since: loss.since, reason: loss.reason });
    } catch (err) {
      loss.reason = toKubepairError(err, 'KP_ERR_AUDIT_WRITE').code;
      throw err;
    }
    // Records lost while this one was waiting stay counted for the next attempt.
    loss.count -= settled;
    if (loss.count === 0) this.#loss = undefined;
  }
}
