/**
 * HTTP/2 settings shared by both ends of the tunnel (docs/design.md §5): large flow-control windows
 * so a distant relay does not throttle bulk transfers, per-stream windows so one stalled reader
 * never blocks the other streams, and a bound on concurrent streams.
 */
import type { Settings } from 'node:http2';
import { MUX_MAX_CONCURRENT_STREAMS, MUX_STREAM_WINDOW_BYTES } from '../limits.js';

export interface MuxWindowOptions {
  /** Per-stream window in bytes (default 4 MiB). */
  readonly streamWindowBytes?: number;
  /** Whole-connection window in bytes (default 32 MiB). */
  readonly connectionWindowBytes?: number;
}

export function muxSettings(options: MuxWindowOptions): Settings {
  return {
    initialWindowSize: options.streamWindowBytes ?? MUX_STREAM_WINDOW_BYTES,
    maxConcurrentStreams: MUX_MAX_CONCURRENT_STREAMS,
    enablePush: false,
  };
}
