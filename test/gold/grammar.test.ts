// The grammar term survives harper.js panics: a fresh linter replaces the crashed one, and the crashing text is
// linted sentence by sentence with the unlintable sentence counted as one lint.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GrammarChecker, isHarperPanic, loadHarper, sentencesOf, type HarperLint, type HarperLinter } from '../../src/gold/grammar.js';
import { createGoldJudge, type GoldJudge } from '../../src/gold/index.js';

// harper.js 2.10 panics on this text (harper-core/src/expr/step.rs: range start index out of range).
const CRASHES_HARPER = 'Europe. both four';

test('sentences keep their code-point offsets', () => {
  assert.deepEqual(sentencesOf('One. Two three! Four'), [
    { offset: 0, text: 'One.' },
    { offset: 4, text: ' Two three!' },
    { offset: 15, text: ' Four' },
  ]);
  assert.deepEqual(sentencesOf('   '), []);
});

/** A linter that panics on any text containing "boom" and reports one Grammar lint ending at each "bad". */
function fakeLinter(loads: { n: number }): HarperLinter {
  loads.n++;
  let poisoned = false;
  return {
    async setup() {},
    async dispose() {},
    async lint(text) {
      if (poisoned) throw new Error('recursive use of an object detected which would lead to unsafe aliasing in rust');
      if (text.includes('boom')) {
        poisoned = true;
        const e = new Error('unreachable');
        e.name = 'RuntimeError';
        throw e;
      }
      const out: HarperLint[] = [];
      for (let at = text.indexOf('bad'); at >= 0; at = text.indexOf('bad', at + 1)) {
        const end = at + 3;
        out.push({ lint_kind: () => 'Grammar', span: () => ({ start: at, end }), free() {} });
      }
      return out;
    },
  };
}

test('a panicking text is linted by sentence, the crashing sentence counts one lint, and the next text is linted by a fresh linter', async () => {
  const loads = { n: 0 };
  const checker = new GrammarChecker(fakeLinter(loads), async () => fakeLinter(loads));
  assert.equal(await checker.countLints('A bad one. It goes boom. Another bad one.', 0), 3);
  assert.ok(checker.panics >= 2, `one panic for the whole text and one for its crashing sentence; got ${checker.panics}`);
  assert.equal(await checker.countLints('Two bad bad words.', 0), 2);
  // Lints before `from` (the prompt's part) are not counted, also in the by-sentence path.
  assert.equal(await checker.countLints('A bad prompt. boom', 14), 1);
});

test('errors that are not panics propagate', async () => {
  const failing: HarperLinter = { async setup() {}, async dispose() {}, async lint() { throw new TypeError('bad argument'); } };
  await assert.rejects(new GrammarChecker(failing, async () => failing).countLints('text', 0), /bad argument/);
  assert.equal(isHarperPanic(new TypeError('bad argument')), false);
});

let judge: GoldJudge;
before(async () => { judge = await createGoldJudge('positive-vader'); });
after(async () => { await judge.close(); });

test('real harper.js: a text that crashes it is scored, deterministically, and the judge keeps working', async () => {
  const linter = await loadHarper();
  await assert.rejects(linter.lint(CRASHES_HARPER, { language: 'plaintext' }), (e: unknown) => isHarperPanic(e));
  const a = await judge.score('Tell me about Europe.', CRASHES_HARPER);
  const b = await judge.score('Tell me about Europe.', CRASHES_HARPER);
  assert.equal(a.score, b.score);
  assert.ok(a.components.lints! >= 1, `the unlintable sentence counts as a lint; got ${a.components.lints}`);
  const fine = await judge.score('Tell me about your day.', 'What a wonderful, happy day with my good friends.');
  assert.ok(fine.score > 0.7, `the judge still lints after the panic; got ${fine.score}`);
});
