// judge.proxyDir: a folder that is not a proxy model is refused naming the field and the missing files.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkedProxyDir } from '../../src/run/proxy_dir.js';

test('judge.proxyDir must hold a proxy model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-dir-'));
  assert.throws(() => checkedProxyDir(dir), /judge\.proxyDir ".*" must be a proxy model folder \(as train-rm --labels writes\); it lacks model\.safetensors, config\.json, tokenizer\.json/);
  for (const f of ['model.safetensors', 'config.json']) writeFileSync(join(dir, f), '{}');
  assert.throws(() => checkedProxyDir(dir), /it lacks tokenizer\.json$/);
  writeFileSync(join(dir, 'tokenizer.json'), '{}');
  assert.equal(checkedProxyDir(dir), dir);
});
