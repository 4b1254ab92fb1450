// Piscina worker: one policy model per worker thread, so sampling runs off the actors' event loop; weights arrive as safetensors bytes.
import { describeBackend, initBackend, type BackendChoice, type NativeChoice } from '../../kernels/backend.js';
import { initGpt, type GptConfig, type GptModel } from '../../kernels/gpt.js';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { GenerateOptions, GenerateResult } from '../ports.js';
import { withoutAdapter } from '../../kernels/lora.js';
import { ComputeError, loadWeightsInto, responseLogProbs, responseTokenLogProbs, sampleGroups, type SpecialTokens } from './local_policy.js';

export interface InitTask {
  gpt: GptConfig;
  weights: Uint8Array;
  special: SpecialTokens;
  backend: BackendChoice;
  native?: NativeChoice;
}

let model: GptModel | undefined;
let special: SpecialTokens | undefined;
/** Whether the model's base is still the one it started with (adapter versions leave it; full weights replace it). */
let baseIntact = true;

/**
 * Runs fn on the model, or with `base` on the base it started with (its adapter switched off): the thread then also
 * serves the evaluator's reference, with no second copy of the base. Refused once full weights replaced the base.
 */
function onModel<T>(m: GptModel, base: boolean | undefined, fn: () => T): T {
  if (!base) return fn();
  if (!baseIntact) throw new ComputeError('this policy thread loaded full weights, so it no longer holds the base the reference needs; give the reference a thread of its own');
  return withoutAdapter(m, fn);
}

/** Loads weights and notes whether the base survived (adapter bytes leave it as it is). */
function load(m: GptModel, bytes: Uint8Array): void {
  loadWeightsInto(m, bytes);
  if (!m.lora) baseIntact = false;
}

function held(): { model: GptModel; special: SpecialTokens } {
  if (!model || !special) throw new ComputeError('the policy worker was used before init');
  return { model, special };
}

/** Each worker thread has its own tfjs engine: the backend is initialised here, once. Returns the active backend and its log line. */
export async function init(t: InitTask): Promise<{ active: string; line: string }> {
  const info = await initBackend(t.backend, { native: t.native ?? 'off' });
  model = initGpt(t.gpt, 0);
  loadWeightsInto(model, t.weights);
  special = t.special;
  return { active: info.active, line: describeBackend(info) };
}

/**
 * With `groups`, each completed group is posted there as { prompt, tokens, finished, extras } before the call returns.
 * With `updates`, weights posted there as { version, bytes } while the call runs are read synchronously between decoding
 * steps (receiveMessageOnPort: this thread never yields while it samples), the newest of them adopted.
 */
export async function generate(t: { prompts: number[][]; k: number; opts: GenerateOptions; version?: number; groups?: MessagePort; updates?: MessagePort; base?: boolean }): Promise<GenerateResult> {
  const h = held();
  const port = t.groups;
  const updates = t.updates;
  const update = (): number | undefined => {
    if (!updates) return undefined;
    let newest: { version: number; bytes: Uint8Array } | undefined;
    for (let m = receiveMessageOnPort(updates); m; m = receiveMessageOnPort(updates)) newest = m.message as { version: number; bytes: Uint8Array };
    if (!newest) return undefined;
    load(h.model, newest.bytes);
    return newest.version;
  };
  try {
    return onModel(h.model, t.base, () => sampleGroups(h.model, t.prompts, t.k, t.opts, h.special, port && ((prompt, tokens, finished, extras) => port.postMessage({ prompt, tokens, finished, extras })), { update, version: t.version ?? 0 }));
  } finally {
    port?.close();
    updates?.close();
  }
}

export async function loadWeights(t: { bytes: Uint8Array }): Promise<void> {
  load(held().model, t.bytes);
}

export async function logprobs(t: { prompts: number[][]; responses: number[][]; base?: boolean }): Promise<number[]> {
  const h = held();
  return onModel(h.model, t.base, () => responseLogProbs(h.model, t.prompts, t.responses, h.special.pad));
}

export async function tokenLogprobs(t: { prompts: number[][]; responses: number[][]; base?: boolean }): Promise<number[][]> {
  const h = held();
  return onModel(h.model, t.base, () => responseTokenLogProbs(h.model, t.prompts, t.responses, h.special.pad));
}
