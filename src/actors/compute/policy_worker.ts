// Piscina worker: one policy model per worker thread, so sampling runs off the actors' event loop; weights arrive as safetensors bytes.
import { describeBackend, initBackend, type BackendChoice, type NativeChoice } from '../../kernels/backend.js';
import { initGpt, type GptConfig, type GptModel } from '../../kernels/gpt.js';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { GenerateOptions, GenerateResult } from '../ports.js';
import type { LoraAdapter } from '../../kernels/lora.js';
import { loadAdapterInto } from './adapter_weights.js';
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
 * Views of this thread's model (worker_policy.ts, WorkerPolicy.view): each its own adapter (none: the base) on the one
 * base, so the evaluator's reference and the weight-sync check hold no base of their own. Calls run one at a time on
 * this thread, so a view's adapter is swapped in for its call and out again.
 */
const views = new Map<string, LoraAdapter | undefined>();

/** Runs fn on the model, or on a view: the base with the view's adapter. Refused once full weights replaced the base. */
function onModel<T>(m: GptModel, view: string | undefined, fn: () => T): T {
  if (view === undefined) return fn();
  if (!baseIntact) throw new ComputeError(`this policy thread loaded full weights, so it no longer holds the base its ${view} view needs; give the ${view} port a thread of its own`);
  const own = m.lora;
  m.lora = views.get(view);
  try {
    return fn();
  } finally {
    views.set(view, m.lora);
    m.lora = own;
  }
}

/** Loads weights and notes whether the base survived (adapter bytes leave it as it is); a view loads adapters only. */
function load(m: GptModel, bytes: Uint8Array, view?: string): void {
  if (view !== undefined) return onModel(m, view, () => loadAdapterInto(m, bytes));
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
export async function generate(t: { prompts: number[][]; k: number; opts: GenerateOptions; version?: number; groups?: MessagePort; updates?: MessagePort; view?: string }): Promise<GenerateResult> {
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
    return onModel(h.model, t.view, () => sampleGroups(h.model, t.prompts, t.k, t.opts, h.special, port && ((prompt, tokens, finished, extras) => port.postMessage({ prompt, tokens, finished, extras })), { update, version: t.version ?? 0 }));
  } finally {
    port?.close();
    updates?.close();
  }
}

export async function loadWeights(t: { bytes: Uint8Array; view?: string }): Promise<void> {
  load(held().model, t.bytes, t.view);
}

export async function logprobs(t: { prompts: number[][]; responses: number[][]; view?: string }): Promise<number[]> {
  const h = held();
  return onModel(h.model, t.view, () => responseLogProbs(h.model, t.prompts, t.responses, h.special.pad));
}

export async function tokenLogprobs(t: { prompts: number[][]; responses: number[][]; view?: string }): Promise<number[][]> {
  const h = held();
  return onModel(h.model, t.view, () => responseTokenLogProbs(h.model, t.prompts, t.responses, h.special.pad));
}
