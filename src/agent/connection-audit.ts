/**
 * The agent's audit gate on the mux (docs/design.md §5, §6; docs/audit.md "In the agent"): every
 * tunnel stream, to every target, passes here before it is answered. Its `connection_opened`
 * record is written first and awaited — before the target is dialled and before any byte is
 * forwarded — and a stream whose record cannot be written is refused with `audit-unavailable`
 * (the client shows "the agent cannot write its audit log, so it refuses new connections (fail
 * closed)"). When the stream ends, a `connection_closed` record says how (bytes, duration,
 * error). So nothing is served unrecorded, whichever target it goes to; proxy mode's requests
 * are then each recorded by the kube proxy as well.
 *
 * The gate needs no state of its own to recover: each new stream's record is a fresh attempt,
 * and the first that is written (the disk was freed) admits its stream and those after it.
 * The stream ids and target names come from the peer (checked by the mux against the offered
 * names before the gate runs).
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { ConnectionClosedAuditRecord, ConnectionOpenedAuditRecord } from '../audit/record.js';
import type { GateVerdict, StreamGate, StreamInfo, StreamOutcome } from '../mux/mux-server.js';

export interface ConnectionAuditOptions {
  /** The audit log; undefined only when auditing is explicitly off (every stream is admitted). */
  readonly audit: AuditLog | undefined;
  /** Admit streams even when their record cannot be written (`--audit-fail-open`). */
  readonly failOpen: boolean;
  /** Relay session id and client label for the records. */
  readonly session: string;
  readonly client: string;
}

export class ConnectionAudit implements StreamGate {
  readonly #options: ConnectionAuditOptions;

  constructor(options: ConnectionAuditOptions) {
    this.#options = options;
  }

  async admit(info: StreamInfo): Promise<GateVerdict> {
    const audit = this.#options.audit;
    if (audit === undefined) return { admitted: true, end: () => undefined };
    const record: ConnectionOpenedAuditRecord = {
      event: 'connection_opened',
      session: this.#options.session,
      client: this.#options.client,
      stream: info.streamId,
      target: info.target,
    };
    try {
      await audit.append(record);
    } catch {
      // The failure itself reaches the sharer through the log's onError.
      if (!this.#options.failOpen) return { admitted: false, reason: 'audit-unavailable' };
    }
    const opened = Date.now();
    let ended = false;
    return {
      admitted: true,
      end: (outcome) => {
        if (ended) return;
        ended = true;
        this.#recordClosed(audit, info, opened, outcome);
      },
    };
  }

  #recordClosed(audit: AuditLog, info: StreamInfo, opened: number, outcome: StreamOutcome): void {
    const record: ConnectionClosedAuditRecord = {
      event: 'connection_closed',
      session: this.#options.session,
      client: this.#options.client,
      stream: info.streamId,
      target: info.target,
      ...(outcome.bytesIn !== undefined && { bytes_in: outcome.bytesIn }),
      ...(outcome.bytesOut !== undefined && { bytes_out: outcome.bytesOut }),
      duration_ms: Date.now() - opened,
      ...(outcome.error !== undefined && { error: outcome.error.message }),
    };
    // A failed write is counted by the log (lastError, onError); the next stream's opened
    // record is then a fresh attempt that decides whether it is served.
    void audit.append(record).catch(() => undefined);
  }
}
