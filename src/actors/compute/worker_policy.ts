// A PolicyPort whose model lives in its own piscina worker thread (one thread per port, so the weights stay put between calls).
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BackendChoice, NativeChoice } from '../../kernels/backend.js';
import type { GptConfig } from '../../kernels/gpt.js';
import type { GenerateOptions, GenerateResult, GroupDone, GroupExtras, PolicyPort } from '../ports.js';
import { ComputeError } from './compute_error.js';
import type { SpecialTokens } from './local_policy.js';

export interface WorkerPolicyOptions {
  gpt: GptConfig;
  /** Initial weights (the SFT model) as safetensors bytes. */
  weights: Uint8Array;
  special: SpecialTokens;
  backend: BackendChoice;
  /** Native kernels in the worker thread (each thread registers its own). */
  native?: NativeChoice;
}

export class WorkerPolicy implements PolicyPort {
  version = 0;
  private constructor(
    private readonly pool: Piscina,
    /** The tensor backend the worker runs. */
    readonly backend: string,
    /** The worker thread's backend line (backend, provider, native kernels), for the logs. */
    readonly backendLine: string,
  ) {}

  static async create(o: WorkerPolicyOptions): Promise<WorkerPolicy> {
    // Resolved next to this file in dist/, where the compiled worker lives.
    const filename = fileURLToPath(new URL('./policy_worker.js', import.meta.url));
    const pool = new Piscina({ filename, minThreads: 1, maxThreads: 1, idleTimeout: Number.POSITIVE_INFINITY });
    try {
      const r = (await pool.run({ gpt: o.gpt, weights: o.weights, special: o.special, backend: o.backend, native: o.native }, { name: 'init' })) as { active: string; line: string };
      return new WorkerPolicy(pool, r.active, r.line);
    } catch (err) {
      await pool.destroy();
      throw err;
    }
  }

  /** The running call's weight-update port, while a call with inFlightCheckTokens runs. */
  private updates: MessagePort | undefined;

  generate(prompts: number[][], k: number, opts: GenerateOptions, onGroup?: GroupDone): Promise<GenerateResult> {
    return this.sample(prompts, k, opts, onGroup, undefined);
  }

  /** Samples with the model, or with a view's adapter on its base (no in-flight updates then). */
  private async sample(prompts: number[][], k: number, opts: GenerateOptions, onGroup: GroupDone | undefined, view: { name: string; version: number } | undefined): Promise<GenerateResult> {
    const task: Record<string, unknown> = { prompts, k, opts, version: view ? view.version : this.version, view: view?.name };
    const transferList: MessagePort[] = [];
    let updates: MessageChannel | undefined;
    if (!view && opts.inFlightCheckTokens && opts.slots) {
      updates = new MessageChannel();
      task.updates = updates.port2;
      transferList.push(updates.port2);
      this.updates = updates.port1;
    }
    // Groups come back over a port as they complete, every one exactly once when the call succeeds; the call's result
    // travels another way and may overtake the last of them, so the call ends when all have arrived.
    let groups: MessageChannel | undefined;
    let heard = 0;
    let allHeard: () => void = () => {};
    const all = new Promise<void>((resolve) => (allHeard = resolve));
    if (onGroup) {
      groups = new MessageChannel();
      task.groups = groups.port2;
      transferList.push(groups.port2);
      groups.port1.on('message', (g: { prompt: number; tokens: number[][]; finished: boolean[]; extras?: GroupExtras }) => {
        onGroup(g.prompt, g.tokens, g.finished, g.extras);
        if (++heard === prompts.length) allHeard();
      });
    }
    try {
      const r = (await this.pool.run(task, { name: 'generate', transferList })) as GenerateResult;
      if (onGroup && heard < prompts.length) await all;
      // Weights adopted in flight are the ones this worker holds now.
      if (!view) for (const g of r.versions ?? []) for (const [, last] of g) if (last > this.version) this.version = last;
      return r;
    } finally {
      groups?.port1.close();
      if (updates) {
        this.updates = undefined;
        updates.port1.close();
      }
    }
  }

  offerWeights(version: number, bytes: Uint8Array): void {
    this.updates?.postMessage({ version, bytes });
  }

  async loadWeights(version: number, bytes: Uint8Array): Promise<void> {
    await this.pool.run({ bytes }, { name: 'loadWeights' });
    this.version = version;
  }

  logprobs(prompts: number[][], responses: number[][]): Promise<number[]> {
    return this.pool.run({ prompts, responses }, { name: 'logprobs' }) as Promise<number[]>;
  }

  tokenLogprobs(prompts: number[][], responses: number[][]): Promise<number[][]> {
    return this.pool.run({ prompts, responses }, { name: 'tokenLogprobs' }) as Promise<number[][]>;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }

  /**
   * Another port on this same thread, over the base the thread started from with an adapter of its own: `reference`
   * loads nothing (the base, every adapter off: with LoRA versions, which never replace the base, the SFT reference),
   * `adapters` loads adapter versions only (the weight-sync check). Either holds no base of its own; its calls queue
   * with this port's on the one thread. Closing it leaves the thread. Once this port loads full weights the base is
   * gone, and the view's calls are refused.
   */
  view(name: string, loads: 'reference' | 'adapters'): PolicyPort & { version: number } {
    const state = { name, version: 0 };
    const run = <T>(method: string, task: Record<string, unknown>): Promise<T> => this.pool.run({ ...task, view: name }, { name: method }) as Promise<T>;
    return {
      get version() {
        return state.version;
      },
      generate: (prompts, k, opts, onGroup) => this.sample(prompts, k, opts, onGroup, state),
      loadWeights: async (version, bytes) => {
        if (loads === 'reference') throw new ComputeError(`the ${name} view of a policy thread holds the base it started from; it loads no versions`);
        await run('loadWeights', { bytes });
        state.version = version;
      },
      logprobs: (prompts, responses) => run<number[]>('logprobs', { prompts, responses }),
      tokenLogprobs: (prompts, responses) => run<number[][]>('tokenLogprobs', { prompts, responses }),
      close: async () => {},
    };
  }
}
