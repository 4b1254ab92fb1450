// A PolicyPort whose model lives in its own piscina worker thread (one thread per port, so the weights stay put between calls).
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BackendChoice, NativeChoice } from '../../kernels/backend.js';
import type { GptConfig } from '../../kernels/gpt.js';
import type { GenerateOptions, GenerateResult, GroupDone, PolicyPort } from '../ports.js';
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

  async generate(prompts: number[][], k: number, opts: GenerateOptions, onGroup?: GroupDone): Promise<GenerateResult> {
    if (!onGroup) return (await this.pool.run({ prompts, k, opts }, { name: 'generate' })) as GenerateResult;
    // Groups come back over a port as they complete, every one exactly once when the call succeeds; the call's result
    // travels another way and may overtake the last of them, so the call ends when all have arrived.
    const { port1, port2 } = new MessageChannel();
    let heard = 0;
    let allHeard: () => void = () => {};
    const all = new Promise<void>((resolve) => (allHeard = resolve));
    port1.on('message', (g: { prompt: number; tokens: number[][]; finished: boolean[]; logprobs?: number[][] }) => {
      onGroup(g.prompt, g.tokens, g.finished, g.logprobs);
      if (++heard === prompts.length) allHeard();
    });
    try {
      const r = (await this.pool.run({ prompts, k, opts, groups: port2 }, { name: 'generate', transferList: [port2] })) as GenerateResult;
      if (heard < prompts.length) await all;
      return r;
    } finally {
      port1.close();
    }
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
}
