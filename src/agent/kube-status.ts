/**
 * Kubernetes `Status` bodies for the answers the agent gives itself (errors, malformed
 * requests), the shape kube-apiserver sends, so kubectl prints `Error from server (REASON):
 * MESSAGE`. Reasons follow apimachinery's StatusReason for each HTTP status.
 */

/** StatusReason by HTTP status (k8s.io/apimachinery/pkg/apis/meta/v1 types.go). */
const REASONS: Readonly<Record<number, string>> = {
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

/** A Status object as JSON text, for an answer with HTTP status `code`. */
export function kubeStatusBody(code: number, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code });
}
