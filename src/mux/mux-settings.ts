/**
 * HTTP/2 settings shared by both ends of the tunnel (docs/design.md §5): large flow-control windows
 * so a distant relay does not throttle bulk transfers, per-stream windows so one stalled reader
 * never blocks the other streams, and a bound on concurrent streams.
 *
 * No `maxFrameSize`: Node's HTTP/2 sends DATA frames of at most 16 KiB whatever
 * SETTINGS_MAX_FRAME_SIZE the peer advertises (nghttp2 would need a
 * data_source_read_length_callback, which Node does not set; `paddingStrategy` only pads), so a
 * larger value would change nothing on the wire. Bulk transfers are made cheap by records
 * instead: the frames of one output batch are sealed together (docs/performance.md, "Larger
 * HTTP/2 frames on the tunnel"; test/integration/mux/data-frames.test.ts).
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
