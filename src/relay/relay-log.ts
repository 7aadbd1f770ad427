/**
 * The relay's operational log (docs/design.md §6, §7): pino JSON lines, one object per event, every
 * string and object passing through the shared redaction module before it is written.
 *
 * The relay also never hands secrets to the logger in the first place: request lines carry the
 * method and the path without its query, never headers; errors are reduced to code and message,
 * never a stack. Redaction is the second line of defence, not the first.
 *
 * Standard output is written asynchronously with a bounded buffer: a slow log reader can make
 * the relay drop log lines (counted in a metric), never stall forwarding or grow without bound.
 * Pending lines are flushed when the process exits. The audit log is separate and never dropped.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { redactString, redactValue } from '../audit/redact.js';
import { KubepairError } from '../errors/index.js';
import { RELAY_LOG_BUFFER_MAX_BYTES } from '../limits.js';
import type { RelayLogLevel } from './relay-options.js';

/** A loggable description of an error: code and message, never a stack. */
export function describeError(err: unknown): { code?: string; message: string } {
  if (err instanceof KubepairError) return { code: err.code, message: err.message };
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === undefined ? { message: err.message } : { code: String(code), message: err.message };
  }
  return { message: String(err) };
}

/** The path of a request URL without its query string (queries are never logged). */
export function pathOnly(url: string | undefined): string {
  if (url === undefined) return '';
  const end = url.search(/[?#]/);
  return (end < 0 ? url : url.slice(0, end)).slice(0, 256);
}

/** Replace top-level Error values of a log object with their code and message. */
function withoutStacks(object: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(object)) {
    if (value instanceof Error) {
      out ??= { ...object };
      out[key] = describeError(value);
    }
  }
  return out ?? object;
}

interface RequestLike {
  readonly method?: string;
  readonly ip?: string;
}

/** Where the relay logs by default: standard output, asynchronous, bounded; emits `drop`. */
export function createStdoutLogDestination(): ReturnType<typeof pino.destination> {
  return pino.destination({ dest: 1, sync: false, maxLength: RELAY_LOG_BUFFER_MAX_BYTES });
}

export function createRelayLogger(level: RelayLogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { component: 'relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // Errors become { code, message } first (never a stack), then everything is redacted.
        log: (object) => redactValue(withoutStacks(object)) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? redactString(arg) : arg));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      serializers: {
        // Replaces pino's default `err` serializer (which adds a stack); errors arrive reduced.
        err: (err: unknown) => (err instanceof Error ? describeError(err) : err),
        // Fastify's own request lines are off; should one appear, it carries no path or query.
        req: (req: RequestLike) => ({ method: req.method, ip: req.ip }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
    },
    destination ?? createStdoutLogDestination(),
  );
}
