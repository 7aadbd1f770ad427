/**
 * The `ws` package (WebSocket client and server of docs/design.md §3), loaded with CommonJS
 * `require`.
 *
 * Why not `import { WebSocket } from 'ws'`: ws is CommonJS with a thin ESM wrapper that
 * imports each of its files, and Node 20's ESM loader lexes every imported CommonJS file for
 * its exports before loading it again. Measured with `perf stat`: the ESM import costs about
 * 340 M instructions, `require` about 85 M: some 60 ms of every `kubepair connect` on a
 * 2-core machine (docs/performance.md). Same package, same version, same classes.
 */
import { createRequire } from 'node:module';
import type * as WsModule from 'ws';

const ws = createRequire(import.meta.url)('ws') as typeof WsModule;

export const WebSocket = ws.WebSocket;
export type WebSocket = WsModule.WebSocket;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = WsModule.WebSocketServer;
