/** Wait for a condition that has no event of its own, checking every 20 ms, bounded in time. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / 20) + 1; attempt++) {
    if (condition()) return;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!condition()) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
