/** Keeps the error registry, docs/errors.md and the KubepairError class in step. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { KubepairError, isKubepairError, listErrorCodes, toKubepairError } from '../../../src/errors/index.js';
import { repoPath } from '../../helpers/paths.js';

interface DocRow {
  code: string;
  message: string;
  status: string;
  close: string;
  exit: string;
}

async function readDocRows(): Promise<DocRow[]> {
  const text = await readFile(repoPath('docs/errors.md'), 'utf8');
  const start = text.indexOf('<!-- registry:start -->');
  const end = text.indexOf('<!-- registry:end -->');
  assert.ok(start >= 0 && end > start, 'docs/errors.md has registry markers');
  return text
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| `KP_ERR_'))
    .map((line) => {
      const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
      const [code = '', message = '', status = '', close = '', exit = ''] = cells;
      return { code: code.replaceAll('`', ''), message, status, close, exit };
    });
}

describe('error registry', () => {
  it('docs/errors.md lists exactly the registry codes, in order, with the same message and mappings', async () => {
    const rows = await readDocRows();
    const codes = listErrorCodes();
    assert.deepEqual(
      rows.map((row) => row.code),
      codes.map(([code]) => code),
      'codes and order match',
    );
    for (const [code, spec] of codes) {
      const row = rows.find((r) => r.code === code);
      assert.ok(row, code);
      assert.equal(row.message, spec.message, `${code} message`);
      assert.equal(row.status, spec.status === undefined ? '' : String(spec.status), `${code} HTTP status`);
      assert.equal(row.close, spec.close === undefined ? '' : String(spec.close), `${code} close code`);
      assert.equal(row.exit, String(spec.exit), `${code} exit code`);
    }
  });

  it('close codes are in the application range and HTTP statuses are errors', () => {
    for (const [code, spec] of listErrorCodes()) {
      if (spec.close !== undefined) {
        assert.ok(spec.close === 1011 || (spec.close >= 4000 && spec.close <= 4999), `${code} close ${spec.close}`);
      }
      if (spec.status !== undefined) assert.ok(spec.status >= 400 && spec.status <= 599, `${code} status`);
    }
  });

  it('KubepairError carries code, mappings, detail and cause', () => {
    const cause = new Error('inner');
    const err = new KubepairError('KP_ERR_PAIRING_FAILED', 'attempt 2 of 5', { cause });
    assert.equal(err.code, 'KP_ERR_PAIRING_FAILED');
    assert.equal(err.closeCode, 4102);
    assert.equal(err.exitCode, 1);
    assert.equal(err.status, undefined);
    assert.equal(err.message, 'pairing failed: wrong code or the relay tampered with the handshake: attempt 2 of 5');
    assert.equal(err.cause, cause);
    assert.ok(isKubepairError(err, 'KP_ERR_PAIRING_FAILED'));
    assert.ok(!isKubepairError(err, 'KP_ERR_ABORTED'));
  });

  it('toKubepairError wraps foreign errors as internal and keeps the original as cause', () => {
    const foreign = new TypeError('boom');
    const wrapped = toKubepairError(foreign);
    assert.equal(wrapped.code, 'KP_ERR_INTERNAL');
    assert.equal(wrapped.cause, foreign);
    const own = new KubepairError('KP_ERR_ABORTED');
    assert.equal(toKubepairError(own), own);
  });
});
