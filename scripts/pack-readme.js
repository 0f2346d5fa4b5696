// The README as the npm registry page shows it: `prepack` points its relative links at the shipped
// files of this exact version (unpkg), `postpack` turns them back; the source keeps relative links
// (so it must not itself link to this package on unpkg: those links would be made relative).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const README = path.join(root, 'README.md');

/** Where the files of one published version are served, with a trailing slash. */
function baseOf(name, version) {
  return `https://unpkg.com/${name}@${version}/`;
}

// Any version: a README left rewritten by a pack that failed, and then a version bump, still turns back.
function anyVersionBase(name) {
  return new RegExp(`https://unpkg\\.com/${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@[^/\\s)"'>]+/`, 'g');
}

// Link targets outside fenced code: inline links and images `](target)`, reference definitions
// `[label]: target`, and HTML `href="target"` / `src="target"`. Code blocks are examples, not links.
const TARGETS = [/(\]\()([^)\s]+)/g, /^( {0,3}\[[^\]]+\]:[ \t]*)(\S+)/gm, /(\b(?:href|src)=["'])([^"']+)/g];

/** Applies `change` to every link target of `markdown` outside fenced code blocks. */
function mapTargets(markdown, change) {
  return markdown
    .split(/(^```[\s\S]*?^```[^\n]*$)/m)
    .map((part, i) => (i % 2 === 1 ? part : TARGETS.reduce((text, re) => text.replace(re, (_, lead, target) => lead + change(target)), part)))
    .join('');
}

/** Every link target of `markdown` outside fenced code blocks. */
function linkTargets(markdown) {
  const found = [];
  mapTargets(markdown, (target) => (found.push(target), target));
  return found;
}

/** A target that names a file beside the README: no scheme, not `//host`, not a fragment alone. */
function isRelative(target) {
  return !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('//') && !target.startsWith('#');
}

/**
 * The README with each relative link made absolute to `base`. Throws, naming them, when a link
 * points at a file that does not exist or that `shipped` says the package does not ship.
 */
function toAbsolute(markdown, base, shipped) {
  const broken = [];
  const result = mapTargets(markdown, (target) => {
    if (!isRelative(target)) return target;
    const file = path.posix.normalize(target.split('#')[0]);
    if (file.startsWith('../') || !fs.existsSync(path.join(root, file)) || !shipped(file)) broken.push(target);
    return base + target.replace(/^\.\//, '');
  });
  if (broken.length > 0) throw new Error(`README.md links files the package does not ship: ${broken.join(', ')} (see package.json "files")`);
  return result;
}

/** The README with links into any version of `name` on unpkg made relative again: the inverse of `toAbsolute`. */
function toRelative(markdown, name) {
  return mapTargets(markdown, (target) => target.replace(anyVersionBase(name), ''));
}

/** Whether `file` (relative to the package root) is in package.json `files` (or always packed). */
function shippedBy(pkg) {
  return (file) => ['package.json', ...pkg.files].some((f) => file === f || file.startsWith(`${f}/`));
}

// Written beside, then renamed over: an interrupted write never leaves half a README.
function writeAtomically(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function main(step) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const current = fs.readFileSync(README, 'utf8');
  // Always from the relative form, so a README left absolute by a failed pack is rewritten as its source.
  const source = toRelative(current, pkg.name);
  if (step === 'postpack') {
    if (source !== current) writeAtomically(README, source);
    return;
  }
  if (step !== 'prepack') throw new Error(`usage: node scripts/pack-readme.js prepack|postpack (got ${step})`);
  const packed = toAbsolute(source, baseOf(pkg.name, pkg.version), shippedBy(pkg));
  // postpack must give back exactly the source; refuse to pack a README it could not restore.
  if (toRelative(packed, pkg.name) !== source) throw new Error('README.md: its links cannot be turned back after packing; nothing was changed');
  writeAtomically(README, packed);
}

if (require.main === module) {
  try {
    main(process.argv[2]);
  } catch (err) {
    process.stderr.write(`pack-readme: ${err.message}\n`);
    process.exitCode = 1;
  }
}

module.exports = { baseOf, linkTargets, isRelative, toAbsolute, toRelative };
