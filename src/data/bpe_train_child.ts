// Child-process entry that runs the native BPE trainer: `node bpe_train_child.js <corpus.txt> <out.json>`.
// The trainer prints progress straight to file descriptor 1; running it here keeps the parent's stdout clean.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tk = require('tokenizers') as {
  Tokenizer: new (model: unknown) => { setPreTokenizer(p: unknown): void; train(files: string[]): void; save(path: string, pretty?: boolean): void };
  BPE: { empty(): unknown };
  byteLevelPreTokenizer(addPrefixSpace?: boolean, useRegex?: boolean): unknown;
};

const [corpusFile, outFile] = process.argv.slice(2);
if (!corpusFile || !outFile) {
  console.error('usage: bpe_train_child <corpus.txt> <out.json>');
  process.exit(2);
}
const trainer = new tk.Tokenizer(tk.BPE.empty());
trainer.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
trainer.train([corpusFile]);
trainer.save(outFile, false);
