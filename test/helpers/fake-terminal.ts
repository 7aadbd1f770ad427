/**
 * A terminal for prompt tests (secret input, the approval prompt): keys are emitted as `data`,
 * every raw-mode switch is recorded, and `raw` says the mode now.
 */
import { EventEmitter } from 'node:events';

export class FakeTerminal extends EventEmitter {
  readonly isTTY = true;
  readonly rawModes: boolean[] = [];
  get raw(): boolean {
    return this.rawModes.at(-1) ?? false;
  }
  setRawMode(mode: boolean): this {
    this.rawModes.push(mode);
    return this;
  }
  resume(): this {
    return this;
  }
  pause(): this {
    return this;
  }
}
