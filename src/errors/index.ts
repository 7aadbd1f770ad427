/** Public surface of the error registry. */
export type { ErrorSpec } from './error-spec.js';
export type { ErrorCode } from './registry.js';
export { ERRORS, listErrorCodes } from './registry.js';
export { KubepairError, isKubepairError, toKubepairError } from './kubepair-error.js';
