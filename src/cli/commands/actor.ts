// `rlhf-stream actor <role>`: one actor of a run in this process, talking to the others through NATS.
import { flag, UsageError, type ParsedArgs } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs, startBackend } from '../common.js';
import { ArtifactsMissingError } from '../../run/artifacts.js';
import { ACTOR_ROLES, runActor, type ActorRole } from '../../run/actor_process.js';
import type { Config } from '../../config/index.js';

const ID = /^[A-Za-z0-9_-]+$/;

/** --nats and --run applied to the config: the run id names the subjects every process of the run shares. */
export function natsConfig(args: ParsedArgs, command: string): { cfg: Config; runId: string } {
  const cfg = configFromArgs(args);
  const nats = flag(args, 'nats');
  if (nats) cfg.bus.servers = nats.split(',').map((s) => s.trim()).filter(Boolean);
  cfg.bus.kind = 'nats';
  const runId = flag(args, 'run') ?? cfg.run.id;
  if (!runId) throw new UsageError(`${command} needs --run RUN_ID (or run.id in the config): the processes of one run share it`);
  if (!ID.test(runId)) throw new UsageError(`--run must match [A-Za-z0-9_-]+; got ${JSON.stringify(runId)}`);
  cfg.run.id = runId;
  return { cfg, runId };
}

/**
 * SIGTERM / SIGINT drain the actor; the same signal a second time exits at once. A different one does not: Ctrl-C in a
 * terminal sends SIGINT to the launcher and every actor, and the launcher then asks each actor to stop with SIGTERM;
 * taking that as a second request would skip the learner's checkpoint.
 */
export function stopSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const seen = new Set<NodeJS.Signals>();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (seen.has(sig)) {
      console.error(`${sig} again: exiting without draining`);
      process.exit(130);
    }
    seen.add(sig);
    if (ac.signal.aborted) {
      console.error(`${sig}: already draining (send ${sig} again to exit at once)`);
      return;
    }
    console.error(`${sig}: draining (send it again to exit at once)`);
    ac.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

export const actorCommand: Command = {
  name: 'actor',
  summary: 'run one actor (source, generator, judge, learner, evaluator) of a NATS run in this process',
  usage: [
    'rlhf-stream actor <source|generator|judge|learner|evaluator> --config FILE --nats nats://host:port --run RUN_ID [--id ID]',
    '                  [--set section.key=value ...]',
    '',
    '  --nats   NATS server URL(s), comma-separated (default: bus.servers)',
    '  --run    run id: every process of one run uses the same one (default: run.id)',
    '  --id     this actor\'s id in metrics and records (default: the role, e.g. generator-<pid>)',
    '',
    'The data, SFT and reward-model artifacts for the config must already be in run.cacheDir (`rlhf-stream cluster`',
    'or `rlhf-stream run` prepares them). Generators and judges share their work through durable consumers, so more',
    'of either can join or leave a running run. The learner ends the run after learner.totalSteps (or once the prompt',
    'budget is spent and the pipeline drained); every other actor then exits. SIGTERM / SIGINT drain the actor.',
    'In run.mode iterative and offline the learner drives the phases and the source releases each phase\'s prompts',
    'only after the learner published the previous phase\'s version; generators sample with that version.',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'nats', 'run', 'id'],
  async run(args) {
    const role = args.positional[0];
    if (!role || !(ACTOR_ROLES as readonly string[]).includes(role)) {
      throw new UsageError(`actor needs a role, one of ${ACTOR_ROLES.join(', ')}; got ${JSON.stringify(role ?? '')}`);
    }
    if (args.positional.length > 1) throw new UsageError(`actor takes one role; got ${args.positional.join(' ')}`);
    const { cfg, runId } = natsConfig(args, 'actor');
    const actorId = flag(args, 'id') ?? (role === 'learner' || role === 'source' || role === 'evaluator' ? role : `${role}-${process.pid}`);
    if (!ID.test(actorId)) throw new UsageError(`--id must match [A-Za-z0-9_-]+; got ${JSON.stringify(actorId)}`);
    await startBackend(cfg);
    const stop = stopSignal();
    try {
      const rec = await runActor(cfg, { role: role as ActorRole, actorId, runId, signal: stop.signal });
      console.log(`${actorId}: ${rec.exit === 'end' ? 'run ended' : 'stopped'}${rec.steps !== undefined ? ` at step ${rec.steps}, version ${rec.version}` : ''}`);
      return 0;
    } catch (err) {
      if (err instanceof ArtifactsMissingError) {
        console.error(`error: ${err.message}`);
        return 1;
      }
      throw err;
    } finally {
      stop.dispose();
    }
  },
};
