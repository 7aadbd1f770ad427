#!/usr/bin/env node
/**
 * Rewrites references to the design document that is not in the repository ("DESIGN §3",
 * "DESIGN.md §4", "shared/DESIGN.md §8.1") into references to the one that is:
 * "docs/design.md §3". Safe to run again and again (a rewritten reference no longer matches);
 * meant to be re-run after merging branches written before docs/design.md existed.
 *
 *   node scripts/rewrite-design-references.mjs           rewrite in place, list what changed
 *   node scripts/rewrite-design-references.mjs --check   change nothing; exit 1 if anything would
 *
 * It also handles a reference wrapped across two comment lines ("DESIGN\n * §8.2"), and
 * re-wraps comment and Markdown lines that the longer name pushed past 100 columns (never inside
 * a code block or an inline code span, never between "docs/design.md" and its "§"). Any other
 * mention of DESIGN that is left (prose such as "DESIGN says ...") is listed with its line, for
 * a hand edit, and makes the exit code 1. Afterwards run the unit test that keeps references
 * resolvable: `npx tsc -p tsconfig.test.json && node --test build/test/unit/docs/`.
 *
 * Scans src/, test/, bench/, demo/, docs/, scripts/ and the top-level *.md files (.ts, .js, .mjs,
 * .cjs, .md, .json). Input: the repository's own files (trusted).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIRECTORIES = ['src', 'test', 'bench', 'demo', 'docs', 'scripts'];
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'build', 'dist', '.git']);
const EXTENSIONS = /\.(?:ts|js|mjs|cjs|md|json)$/;
/** Files that name the old form on purpose: this script and the test that forbids it. */
const EXEMPT = new Set(['scripts/rewrite-design-references.mjs', 'test/unit/docs/design-references.test.ts']);
const NEW_NAME = 'docs/design.md';

/** The rewrites, in order: "[path/]DESIGN.md §", "DESIGN §", and "DESIGN" wrapped before "§". */
const REWRITES = [
  [/(?<![\w/.-])(?:[\w.-]+\/)*DESIGN\.md(?=[ \t]+§)/g, NEW_NAME],
  [/(?<![\w/.-])DESIGN(?=[ \t]+§)/g, NEW_NAME],
  [/(?<![\w/.-])DESIGN(?:\.md)?(?=[ \t]*\r?\n[ \t]*(?:\*|\/\/|#)?[ \t]*§)/g, NEW_NAME],
];
/** Whatever mention is left after the rewrites needs a person. */
const LEFTOVER = /(?<![\w/.-])(?:[\w.-]+\/)*DESIGN(?:\.md)?\b/g;

/** Lines a rewrite made longer than this are re-wrapped (the code base wraps at 100 columns). */
const WIDTH = 100;
/** A word that must not begin a wrapped line: it would start a list, heading, table or quote. */
const UNSAFE_LINE_START = /^(?:[-*+#|>]|\d+[.)])$/;

/**
 * The prefix a continuation of `line` carries, or undefined when the line is not wrappable
 * prose: comment text (` * `, `// `) in code, paragraph or list text in Markdown.
 */
function continuationPrefix(line, markdown) {
  if (markdown) {
    if (/^\s*(?:\||#|```|>)/.test(line)) return undefined;
    const item = /^(\s*)(?:[-*+]|\d+[.)]) /.exec(line);
    if (item) return ' '.repeat(item[0].length);
    return /^\s*/.exec(line)[0];
  }
  const comment = /^(\s*(?:\*|\/\/) )(?:([-*] )|\S)/.exec(line);
  if (!comment) return undefined;
  return comment[2] === undefined ? comment[1] : comment[1] + '  ';
}

/** True when `next` continues the paragraph whose continuation lines start with `prefix`. */
function continues(next, prefix, markdown) {
  if (next === undefined || !next.startsWith(prefix)) return false;
  const rest = next.slice(prefix.length);
  if (rest === '' || /^\s/.test(rest) || /^(?:[-*+] |\d+[.)] |@|\||#|```|>|\*\/)/.test(rest)) return false;
  return markdown || /^\s*(?:\*|\/\/) /.test(next);
}

/** Where to cut `line` so its head fits WIDTH: the index of a space, or -1. */
function cutPoint(line, prefixLength) {
  for (let at = line.lastIndexOf(' ', WIDTH); at > prefixLength; at = line.lastIndexOf(' ', at - 1)) {
    const firstMoved = line.slice(at + 1).split(' ')[0];
    const head = line.slice(0, at);
    const keepsReferenceWhole = !head.endsWith(NEW_NAME);
    const outsideCode = (head.match(/`/g) ?? []).length % 2 === 0;
    if (line[at - 1] !== ' ' && !UNSAFE_LINE_START.test(firstMoved) && keepsReferenceWhole && outsideCode) {
      return at;
    }
  }
  return -1;
}

/** Re-wrap line `index` of `lines` (and the paragraph below it as needed) to WIDTH columns. */
function rewrap(lines, index, markdown) {
  for (let i = index; i < lines.length && lines[i].length > WIDTH; i++) {
    const line = lines[i];
    const prefix = continuationPrefix(line, markdown);
    if (prefix === undefined) return;
    const own = /^\s*(?:(?:\*|\/\/) )?(?:(?:[-*+]|\d+[.)]) )?/.exec(line)[0].length;
    const at = cutPoint(line, own);
    if (at < 0) return;
    const moved = line.slice(at + 1);
    lines[i] = line.slice(0, at);
    if (continues(lines[i + 1], prefix, markdown)) {
      lines[i + 1] = prefix + moved + ' ' + lines[i + 1].slice(prefix.length);
    } else {
      lines.splice(i + 1, 0, prefix + moved);
    }
  }
}

/** A one-line `/** ... *\/` comment that grew past WIDTH becomes a block comment. */
function openOneLineComment(lines, index) {
  const one = /^(\s*)\/\*\* (.*) \*\/$/.exec(lines[index]);
  if (!one || lines[index].length <= WIDTH) return false;
  const [, indent, text] = one;
  lines.splice(index, 1, `${indent}/**`, `${indent} * ${text}`, `${indent} */`);
  return true;
}

/** Apply the rewrites to one file's text; re-wrap the lines they made too long. */
function rewriteText(text, markdown) {
  let count = 0;
  const count1 = (replacement) => () => {
    count += 1;
    return replacement;
  };
  // The wrapped form first, on the whole text: it spans two lines and adds none.
  const unwrapped = text.replace(REWRITES[2][0], count1(REWRITES[2][1]));
  const before = unwrapped.split('\n');
  const lines = before.map((line) =>
    line.replace(REWRITES[0][0], count1(REWRITES[0][1])).replace(REWRITES[1][0], count1(REWRITES[1][1])),
  );
  const original = text.split('\n');
  const changed = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== original[i] && lines[i].length > WIDTH && original[i].length <= WIDTH) changed.push(i);
  }
  // Markdown code blocks are left as they are.
  const inCode = new Set();
  let fenced = false;
  lines.forEach((line, i) => {
    if (markdown && /^\s*```/.test(line)) fenced = !fenced;
    else if (fenced) inCode.add(i);
  });
  // Bottom up, so an inserted line never shifts an index still to be visited.
  for (const index of changed.reverse()) {
    if (inCode.has(index)) continue;
    if (!markdown && openOneLineComment(lines, index)) rewrap(lines, index + 1, markdown);
    else rewrap(lines, index, markdown);
  }
  return { text: lines.join('\n'), count };
}

function* filesUnder(directory) {
  let entries;
  try {
    entries = readdirSync(directory, { withFileTypes: true });
  } catch (err) {
    if (err.code === 'ENOENT') return;
    throw err;
  }
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.has(entry.name)) yield* filesUnder(path);
    } else if (entry.isFile() && EXTENSIONS.test(entry.name)) {
      yield path;
    }
  }
}

function* repositoryFiles() {
  for (const directory of DIRECTORIES) yield* filesUnder(join(ROOT, directory));
  for (const entry of readdirSync(ROOT, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.md')) yield join(ROOT, entry.name);
  }
}

function lineOf(text, index) {
  return text.slice(0, index).split('\n').length;
}

/** One line to standard output. */
function say(line) {
  process.stdout.write(`${line}\n`);
}

const check = process.argv.includes('--check');
let changedFiles = 0;
let rewritten = 0;
const leftovers = [];
for (const path of repositoryFiles()) {
  const name = relative(ROOT, path);
  if (EXEMPT.has(name)) continue;
  const before = readFileSync(path, 'utf8');
  const { text: after, count } = rewriteText(before, name.endsWith('.md'));
  rewritten += count;
  for (const match of after.matchAll(LEFTOVER)) {
    const line = after.split('\n')[lineOf(after, match.index) - 1].trim();
    leftovers.push(`${name}:${lineOf(after, match.index)}: ${line}`);
  }
  if (after !== before) {
    changedFiles += 1;
    say(`${check ? 'would rewrite' : 'rewrote'} ${name}`);
    if (!check) writeFileSync(path, after);
  }
}
say(`${rewritten} reference(s) in ${changedFiles} file(s) ${check ? 'to rewrite' : 'rewritten'}`);
if (leftovers.length > 0) {
  say(`mentions of DESIGN left for a hand edit (cite ${NEW_NAME} §N instead):`);
  for (const leftover of leftovers) say(`  ${leftover}`);
}
process.exitCode = leftovers.length > 0 || (check && changedFiles > 0) ? 1 : 0;
