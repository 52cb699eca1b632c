#!/usr/bin/env node
// Verifies a firm's exported history (GET /api/v1/enterprises/{uscc}/history) without any of our code:
// an independent check of the hash chain in another language, with the npm package `canonicalize`
// (RFC 8785, the JSON Canonicalization Scheme) for events sealed with `jcs-1`.
//
//   npm install --prefix examples canonicalize@2
//   node examples/verify_history.mjs history.json        # or:  curl … | node examples/verify_history.mjs
//
// Exit status 0 when every event links and hashes correctly, 1 otherwise (one line per problem on stderr).
// Events sealed with the original recipe (`pyjson-1`, Python's json.dumps) are reported as skipped: that
// recipe's number forms are Python's own, which is why `jcs-1` replaced it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const canonicalize = require('canonicalize');

const GENESIS = '0'.repeat(64);
const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const history = JSON.parse(text);
const recipes = history.hash_recipes ?? {};

let prev = GENESIS;
let checked = 0;
let skipped = 0;
const problems = [];
for (const event of history.items) {
  const { prev_hash: prevHash, hash, ...fields } = event;
  const recipe = recipes[String(event.seq)] ?? 'pyjson-1';
  if (prevHash !== prev) problems.push(`seq ${event.seq}: prev_hash does not link to the previous hash`);
  if (recipe === 'jcs-1') {
    const digest = createHash('sha256').update(prev + canonicalize(fields), 'utf8').digest('hex');
    if (digest !== hash) problems.push(`seq ${event.seq}: hash mismatch (jcs-1)`);
    checked += 1;
  } else {
    skipped += 1;
  }
  prev = hash;
}
for (const problem of problems) console.error(problem);
console.log(JSON.stringify({ ok: problems.length === 0, checked, skipped_pyjson: skipped, problems: problems.length }));
process.exit(problems.length === 0 ? 0 : 1);
