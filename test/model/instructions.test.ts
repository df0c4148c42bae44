import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MTEB_ENG_V2_INSTRUCTIONS, CMTEB_INSTRUCTIONS, instructionForSide, formatPrompt } from '../../src/model/instructions.js';

test('instruction tables cover the QZhou task lists with their sides', () => {
  // recipe.md §1.3: 41 MTEB(eng, v2) tasks minus SCIDOCS..Touche listed as Q; all present.
  assert.equal(MTEB_ENG_V2_INSTRUCTIONS.size, 41);
  assert.equal(CMTEB_INSTRUCTIONS.size, 31);
  assert.equal(instructionForSide('FiQA2018', 'document'), undefined);
  assert.equal(instructionForSide('FiQA2018', 'query'), 'Given a financial question, retrieve user replies that best answer the question');
  assert.equal(instructionForSide('ArguAna', 'document'), 'Given a claim, find documents that refute the claim');
  assert.equal(instructionForSide('Ocnli', 'query'), 'Retrieve semantically similar text.');
  assert.equal(formatPrompt('X'), 'Instruct: X\nQuery: ');
  assert.equal(formatPrompt(''), '');
  // `$` sequences in an instruction are text, not replacement patterns.
  assert.equal(formatPrompt("prices in $& and $$, 'quoted' $'"), "Instruct: prices in $& and $$, 'quoted' $'\nQuery: ");
  assert.equal(formatPrompt('a $1 b', '<{instruction}>'), '<a $1 b>');
});
