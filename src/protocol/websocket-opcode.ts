/**
 * WebSocket frame opcodes (RFC 6455 §5.2, §11.8), for the code that reads or writes frames
 * itself: the relay's frame path (relay/frame-path.ts), the frame walker under the exec recorder
 * and the splice's boundary (websocket-frame-walker.ts, websocket-boundary.ts) and the cut
 * session's Status (channel-status.ts). Every byte those readers see is untrusted; this module
 * only names the values.
 */
export const WebSocketOpcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
