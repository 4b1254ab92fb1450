// Config slice for the byte-level BPE tokenizer.
import { int } from '../fields.js';

export const tokenizer = {
  vocabSize: int(4096, 320, 65536, 'BPE vocabulary size, bytes and special tokens included'),
};
