/**
 * The answers kubepair gives kubectl itself, on either side of the tunnel (docs/design.md §6):
 * every Kubernetes `Status` body — the agent's refusals and errors (kube proxy, policy 403s), the
 * client's local listener refusing a connection (401, 408, 431, 400) — and the one text answer
 * for a refusal kubectl must show verbatim. One builder, so the reason always matches the HTTP
 * status the way kube-apiserver pairs them, and kubectl prints
 * `Error from server (REASON): MESSAGE` for each.
 *
 * Reasons are apimachinery's StatusReason (k8s.io/apimachinery/pkg/apis/meta/v1 types.go) for
 * the statuses it names; statuses it does not name get the reason of the nearest one it does
 * (417, 431, 501 and 505 are bad requests; 502 is an internal error; 408 and 504 time-outs).
 *
 * Untrusted input: `message` and `details` may quote a request (paths, names); they are only
 * ever JSON-encoded here.
 */
import { STATUS_CODES } from 'node:http';

/** The StatusReason values kubepair uses (a subset of apimachinery's). */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'Timeout'
  | 'Conflict'
  | 'Expired'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Unknown';

/** StatusReason by HTTP status. */
export const STATUS_REASONS: Readonly<Record<number, StatusReason>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  408: 'Timeout',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  417: 'BadRequest',
  422: 'Invalid',
  429: 'TooManyRequests',
  431: 'BadRequest',
  500: 'InternalError',
  501: 'BadRequest',
  502: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
  505: 'BadRequest',
};

/** The reason kube-apiserver gives with `code`; `Unknown` for a status it never answers with. */
export function statusReason(code: number): StatusReason {
  return STATUS_REASONS[code] ?? 'Unknown';
}

/** What a Status says the failure concerns (apierrors.NewForbidden: `kind` is the resource's plural). */
export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
}

/** The fields of meta/v1 Status that kubepair's answers use, in the order kube-apiserver writes them. */
export interface KubeStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: StatusReason;
  readonly details?: StatusDetails;
  readonly code: number;
}

/** The Status object answering with HTTP status `code`. */
export function kubeStatus(code: number, message: string, details?: StatusDetails): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: statusReason(code),
    ...(details !== undefined && { details }),
    code,
  };
}

/** The Status as JSON text, ready to be an answer's body. */
export function kubeStatusBody(code: number, message: string, details?: StatusDetails): string {
  return JSON.stringify(kubeStatus(code, message, details));
}

/** Headers of a Status answer (besides its length and connection handling). */
export const KUBE_STATUS_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['content-type', 'application/json'],
  ['cache-control', 'no-store'],
];

/**
 * A refusal kubectl must show word for word (the agent cannot audit; the tunnel stream could
 * not be opened): a 500 with a text/plain body, as kube-apiserver answers when its audit backend
 * refuses an event. client-go puts the text body of a 5xx into its error message on every code
 * path, discovery included, whereas it drops a Status's message on discovery requests and
 * prints a fixed text for a 503.
 */
export const REFUSAL_TEXT_STATUS = 500;
export const REFUSAL_TEXT_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['content-type', 'text/plain; charset=utf-8'],
  ['cache-control', 'no-store'],
];

/** The reason phrase of an HTTP/1.1 status line (`Request Timeout`). */
export function reasonPhrase(code: number): string {
  return STATUS_CODES[code] ?? 'Error';
}
