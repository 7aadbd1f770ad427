/**
 * Every reference to the design document resolves: each "docs/design.md §N" (or §N.M, and the
 * further numbers of a list such as "docs/design.md §3, §7") in src/, test/, bench/, demo/,
 * docs/, scripts/ and the top-level Markdown files names a numbered heading of docs/design.md,
 * and no reference to the design document that is not in the repository ("DESIGN §4",
 * "DESIGN.md") is left. After merging a branch written before docs/design.md existed, run
 * `node scripts/rewrite-design-references.mjs`.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, repoPath } from '../../helpers/paths.js';

const DIRECTORIES = ['src', 'test', 'bench', 'demo', 'docs', 'scripts'];
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'build', 'dist', '.git']);
const EXTENSIONS = /\.(?:ts|js|mjs|cjs|md|json)$/;
/** Files that spell the old form on purpose: the rewrite script and this test. */
const EXEMPT = new Set(['scripts/rewrite-design-references.mjs', 'test/unit/docs/design-references.test.ts']);

/** "docs/design.md §3", "docs/design.md §8.2", possibly wrapped onto a comment line. */
const REFERENCE = /docs\/design\.md\s+(?:(?:\*|\/\/)\s+)?§(\d+(?:\.\d+)*)/g;
/**
 * Further numbers of the same list: ", §7", " and §4", each possibly after a short note
 * ("§3 per-address limits, §7") or a line break. "§4, CONVENTIONS §6" is not a continuation:
 * the number must follow the separator directly.
 */
const CONTINUATION = /^(?:[ \t]+[^,;§()\n]{1,60}?)?(?:,|,?[ \t]+and)\s+(?:(?:\*|\/\/)\s+)?§(\d+(?:\.\d+)*)/;
/** The design document that is not in the repository, by any spelling a file used. */
const OLD_FORM = /(?<![\w/.-])(?:[\w.-]+\/)*DESIGN(?:\.md)?\b/g;

/** The section numbers that docs/design.md has: "## 3. Relay API", "### 8.1 Resumption". */
function sectionNumbers(design: string): Set<string> {
  const numbers = new Set<string>();
  for (const match of design.matchAll(/^#{2,4} (\d+(?:\.\d+)*)\.? /gm)) numbers.add(match[1] ?? '');
  return numbers;
}

interface Reference {
  readonly section: string;
  readonly line: number;
}

function lineAt(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** Every section number `text` cites as docs/design.md §N, with the line it is on. */
function designReferences(text: string): Reference[] {
  const found: Reference[] = [];
  for (const match of text.matchAll(REFERENCE)) {
    found.push({ section: match[1] ?? '', line: lineAt(text, match.index) });
    let at = match.index + match[0].length;
    for (let more = CONTINUATION.exec(text.slice(at)); more !== null; more = CONTINUATION.exec(text.slice(at))) {
      found.push({ section: more[1] ?? '', line: lineAt(text, at + more[0].length) });
      at += more[0].length;
    }
  }
  return found;
}

async function filesUnder(directory: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name)) files.push(...(await filesUnder(path)));
    else if (entry.isFile() && EXTENSIONS.test(entry.name)) files.push(path);
  }
  return files;
}

/** The repository's files that may cite the design, as [path relative to the root, text]. */
async function repositoryTexts(): Promise<[string, string][]> {
  const paths: string[] = [];
  for (const directory of DIRECTORIES) paths.push(...(await filesUnder(repoPath(directory))));
  for (const entry of await readdir(REPO_ROOT, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.md')) paths.push(repoPath(entry.name));
  }
  const texts: [string, string][] = [];
  for (const path of paths.sort()) {
    const name = relative(REPO_ROOT, path);
    if (!EXEMPT.has(name)) texts.push([name, await readFile(path, 'utf8')]);
  }
  return texts;
}

describe('docs/design.md references', () => {
  it('finds the section numbers of a reference and of the list that follows it, and nothing else', () => {
    const cases: [string, string[]][] = [
      ['(docs/design.md §4)', ['4']],
      ['(docs/design.md §8.2 shares sessions)', ['8.2']],
      ['(docs/design.md §1, §3, §4, §6)', ['1', '3', '4', '6']],
      ['(docs/design.md §3 and §4)', ['3', '4']],
      ['(docs/design.md §3 "Relay auth", §7)', ['3', '7']],
      ['(docs/design.md §3 per-address limits, §7 `--trust-proxy`)', ['3', '7']],
      ['(docs/design.md §1, §5,\n§6)', ['1', '5', '6']],
      [' * the Redis store of\n * docs/design.md\n * §8.2 will count', ['8.2']],
      ['(docs/design.md §4, CONVENTIONS §6)', ['4']],
      ['(docs/design.md §6; docs/audit.md "Hash chain"), RFC 5869 §2.3', ['6']],
      ['docs/protocol.md §9 and issue 11 §2', []],
      ['ends a sentence with docs/design.md §6.', ['6']],
    ];
    for (const [text, expected] of cases) {
      assert.deepEqual(
        designReferences(text).map((reference) => reference.section),
        expected,
        JSON.stringify(text),
      );
    }
  });

  it('every docs/design.md §N in src/, test/, bench/, demo/, docs/, scripts/ and *.md names a heading of docs/design.md', async () => {
    const sections = sectionNumbers(await readFile(repoPath('docs/design.md'), 'utf8'));
    for (const number of ['1', '2', '3', '4', '5', '6', '7', '8', '8.1', '8.2', '9']) {
      assert.ok(sections.has(number), `docs/design.md has a heading for §${number}`);
    }
    const unresolved: string[] = [];
    let count = 0;
    for (const [name, text] of await repositoryTexts()) {
      for (const reference of designReferences(text)) {
        count += 1;
        if (!sections.has(reference.section)) unresolved.push(`${name}:${reference.line}: §${reference.section}`);
      }
    }
    assert.deepEqual(unresolved, [], 'references to sections docs/design.md does not have');
    assert.ok(count >= 190, `the code cites the design (${count} references found)`);
  });

  it('no reference to the design document outside the repository is left (DESIGN §N, DESIGN.md)', async () => {
    const leftovers: string[] = [];
    for (const [name, text] of await repositoryTexts()) {
      for (const match of text.matchAll(OLD_FORM)) {
        leftovers.push(`${name}:${lineAt(text, match.index)}: ${match[0]}`);
      }
    }
    assert.deepEqual(leftovers, [], 'run node scripts/rewrite-design-references.mjs, then fix what it lists by hand');
  });

  it('docs/design.md gives every numbered section a stable anchor (#sN)', async () => {
    const design = await readFile(repoPath('docs/design.md'), 'utf8');
    for (const number of sectionNumbers(design)) {
      assert.ok(design.includes(`<a id="s${number}"></a>`), `anchor s${number}`);
    }
  });
});
