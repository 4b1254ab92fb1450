// AdamW (Loshchilov & Hutter 2019): Adam with bias correction and decoupled weight decay, state kept per variable name.
import * as tf from '@tensorflow/tfjs-core';
import { nativeAdamW } from './native/index.js';

export class OptimizerError extends Error {
  override name = 'OptimizerError';
}

export interface AdamWOptions {
  /** Default learning rate; step() may override it per step (schedules). */
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled decay coefficient lambda: p <- p - lr * lambda * p. */
  weightDecay?: number;
  /** Which variables get no weight decay; default: 1-D and scalar ones (biases, LayerNorm gains). */
  noDecay?: (name: string, shape: readonly number[]) => boolean;
}

/**
 * The optimizer state as plain arrays, shaped like a safetensors tensor record so a checkpoint can
 * store it as-is: `exp_avg/<name>`, `exp_avg_sq/<name>` (F32, the variable's shape) and
 * `step/<name>` (I32 [1]) per variable, plus `adamw/step_count` (I32 [1]).
 */
export type OptimizerState = Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }>;

interface Slot {
  m: tf.Variable; // first moment, shape of the parameter
  v: tf.Variable; // second moment, shape of the parameter
  t: number; // updates this variable has had; bias correction is per variable, as in PyTorch
}

const STEP_COUNT_KEY = 'adamw/step_count';

export class AdamW {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly noDecay: (name: string, shape: readonly number[]) => boolean;
  private readonly slots = new Map<string, Slot>();
  private steps = 0;

  constructor(opts: AdamWOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.noDecay = opts.noDecay ?? ((_name, shape) => shape.length <= 1);
    checkRange('lr', this.lr, 0, Infinity);
    checkRange('beta1', this.beta1, 0, 1, true);
    checkRange('beta2', this.beta2, 0, 1, true);
    checkRange('eps', this.eps, 0, Infinity);
    checkRange('weightDecay', this.weightDecay, 0, Infinity);
  }

  /** Number of step() calls so far. */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * Updates every variable that has a gradient, in place. A variable without a gradient is left alone
   * (its moments do not decay); a gradient without a variable is an error. Takes no ownership of
   * `grads` or `vars`.
   */
  step(vars: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number = this.lr): void {
    checkRange('lr', lr, 0, Infinity);
    for (const [name, g] of Object.entries(grads)) {
      const p = vars[name];
      if (p === undefined) throw new OptimizerError(`gradient for ${JSON.stringify(name)} has no matching variable`);
      if (!sameShape(p.shape, g.shape)) {
        throw new OptimizerError(`gradient for ${JSON.stringify(name)} has shape [${g.shape}], variable has [${p.shape}]`);
      }
    }
    this.steps += 1;
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) this.update(name, vars[name]!, g, lr);
    });
  }

  /** One variable's update: a handful of element-wise ops, kept in the caller's tidy. */
  private update(name: string, p: tf.Variable, g: tf.Tensor, lr: number): void {
    const slot = this.slot(name, p);
    slot.t += 1;
    // beta^t as JS numbers: tf.pow is slow and these are scalars anyway.
    const bc1 = 1 - this.beta1 ** slot.t;
    const bc2 = 1 - this.beta2 ** slot.t;
    const decay = this.noDecay(name, p.shape) ? 1 : 1 - lr * this.weightDecay;
    // PyTorch's (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), with sqrt(bc2) moved into the scalars:
    // (lr * sqrt(bc2) / bc1) * m / (sqrt(v) + eps * sqrt(bc2)) is the same number and one op fewer.
    const stepSize = (lr * Math.sqrt(bc2)) / bc1;
    const epsHat = this.eps * Math.sqrt(bc2);
    // One pass over memory with the fused native kernel (when enabled and g is float32), else the tf-op chain below.
    const fused = g.dtype === 'float32' ? nativeAdamW(p, g, slot.m, slot.v, { beta1: this.beta1, beta2: this.beta2, stepSize, epsHat, decay }) : undefined;
    if (fused) {
      const [pNext, mNext, vNext] = fused;
      slot.m.assign(mNext);
      slot.v.assign(vNext);
      p.assign(pNext);
      return;
    }
    const m = tf.add(tf.mul(slot.m, this.beta1), tf.mul(g, 1 - this.beta1));
    const v = tf.add(tf.mul(slot.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    const denom = tf.add(tf.sqrt(v), epsHat);
    const decayed = decay === 1 ? p : tf.mul(p, decay);
    const next = tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize));
    slot.m.assign(m);
    slot.v.assign(v);
    p.assign(next);
  }

  private slot(name: string, p: tf.Variable): Slot {
    let s = this.slots.get(name);
    if (s === undefined) {
      s = { m: ownVariable(tf.zeros(p.shape)), v: ownVariable(tf.zeros(p.shape)), t: 0 };
      this.slots.set(name, s);
    } else if (!sameShape(s.m.shape, p.shape)) {
      throw new OptimizerError(`variable ${JSON.stringify(name)} has shape [${p.shape}] but its optimizer state has [${s.m.shape}]`);
    }
    return s;
  }

  /** Copies the state out as plain arrays (one device read per tensor). */
  exportState(): OptimizerState {
    const out: OptimizerState = {};
    for (const [name, s] of this.slots) {
      out[`exp_avg/${name}`] = { dtype: 'F32', shape: [...s.m.shape], data: (s.m.dataSync() as Float32Array).slice() };
      out[`exp_avg_sq/${name}`] = { dtype: 'F32', shape: [...s.v.shape], data: (s.v.dataSync() as Float32Array).slice() };
      out[`step/${name}`] = { dtype: 'I32', shape: [1], data: Int32Array.of(s.t) };
    }
    out[STEP_COUNT_KEY] = { dtype: 'I32', shape: [1], data: Int32Array.of(this.steps) };
    return out;
  }

  /** Replaces the state with one from exportState(); validates it completely before touching anything. */
  importState(state: OptimizerState): void {
    const count = state[STEP_COUNT_KEY];
    if (count === undefined || count.dtype !== 'I32' || count.data.length !== 1) {
      throw new OptimizerError(`optimizer state lacks ${STEP_COUNT_KEY} (I32 [1]); is this an AdamW state?`);
    }
    const parsed = new Map<string, { m?: OptimizerState[string]; v?: OptimizerState[string]; t?: number }>();
    const entry = (name: string) => parsed.get(name) ?? parsed.set(name, {}).get(name)!;
    for (const [key, rec] of Object.entries(state)) {
      if (key === STEP_COUNT_KEY) continue;
      const cut = key.indexOf('/');
      const kind = key.slice(0, cut);
      const name = key.slice(cut + 1);
      const numel = rec.shape.reduce((a, b) => a * b, 1);
      if (rec.data.length !== numel) {
        throw new OptimizerError(`optimizer state ${JSON.stringify(key)} has ${rec.data.length} values for shape [${rec.shape}]`);
      }
      if (kind === 'exp_avg' && rec.dtype === 'F32') entry(name).m = rec;
      else if (kind === 'exp_avg_sq' && rec.dtype === 'F32') entry(name).v = rec;
      else if (kind === 'step' && rec.dtype === 'I32' && numel === 1) entry(name).t = rec.data[0]!;
      else {
        throw new OptimizerError(
          `unexpected optimizer state entry ${JSON.stringify(key)} (${rec.dtype} [${rec.shape}]); ` +
            `accepted: exp_avg/<name> F32, exp_avg_sq/<name> F32, step/<name> I32 [1], ${STEP_COUNT_KEY}`,
        );
      }
    }
    for (const [name, e] of parsed) {
      if (e.m === undefined || e.v === undefined || e.t === undefined) {
        throw new OptimizerError(`optimizer state for ${JSON.stringify(name)} is incomplete: needs exp_avg, exp_avg_sq and step`);
      }
      if (!sameShape(e.m.shape, e.v.shape)) {
        throw new OptimizerError(`optimizer state for ${JSON.stringify(name)}: exp_avg [${e.m.shape}] and exp_avg_sq [${e.v.shape}] differ`);
      }
    }
    this.dispose();
    for (const [name, e] of parsed) {
      this.slots.set(name, {
        m: ownVariable(tf.tensor(e.m!.data as Float32Array, e.m!.shape, 'float32')),
        v: ownVariable(tf.tensor(e.v!.data as Float32Array, e.v!.shape, 'float32')),
        t: e.t!,
      });
    }
    this.steps = count.data[0]!;
  }

  /** Frees the moment tensors; the optimizer starts afresh if stepped again. */
  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
    this.steps = 0;
  }
}

/** A non-trainable variable holding `init`'s data; `init` itself is released (tf.variable keeps its own reference). */
function ownVariable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init, false);
  init.dispose();
  return v;
}

function checkRange(what: string, x: number, lo: number, hi: number, hiOpen = false): void {
  const ok = Number.isFinite(x) ? x >= lo && (hiOpen ? x < hi : x <= hi) : false;
  if (!ok) throw new OptimizerError(`AdamW ${what} must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}; got ${x}`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
