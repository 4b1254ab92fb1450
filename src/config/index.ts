// The one typed config: YAML file + `--set a.b=v` overrides + environment, validated once at start-up.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseSection, type Infer, type Section } from './fields.js';
import { bus } from './sections/bus.js';
import { compute } from './sections/compute.js';
import { data } from './sections/data.js';
import { evaluator } from './sections/evaluator.js';
import { experiment } from './sections/experiment.js';
import { generator } from './sections/generator.js';
import { httpReward } from './sections/http_reward.js';
import { judge } from './sections/judge.js';
import { learner } from './sections/learner.js';
import { llmJudge } from './sections/llm_judge.js';
import { model } from './sections/model.js';
import { monitor } from './sections/monitor.js';
import { rm } from './sections/rm.js';
import { run } from './sections/run.js';
import { scorerHttp } from './sections/scorer_http.js';
import { scorerModule } from './sections/scorer_module.js';
import { sft } from './sections/sft.js';
import { tokenizer } from './sections/tokenizer.js';

export { ConfigError } from './fields.js';

export const SCHEMA = { compute, tokenizer, model, data, sft, rm, bus, generator, judge, scorerHttp, httpReward, llmJudge, scorerModule, learner, evaluator, run, monitor, experiment } as const;
type Schema = typeof SCHEMA;
export type Config = { [K in keyof Schema]: Infer<Schema[K]> };
export type BusConfig = Config['bus'];

/** Config fields that hold secrets, with the environment variable that carries each to a process instead of a file. */
export const SECRET_FIELDS = [
  { path: 'bus.token', env: 'RLHF_STREAM_NATS_TOKEN' },
  { path: 'bus.pass', env: 'RLHF_STREAM_NATS_PASS' },
] as const;

/**
 * The config as a run record may hold it: every secret emptied. `redacted` names the fields that held one and `env` the
 * variables that carry them to child processes (a record is copied to other hosts; a secret must not travel with it).
 */
export function redactSecrets(cfg: Config): { cfg: Config; redacted: string[]; env: Record<string, string> } {
  const bus = { ...cfg.bus };
  const redacted: string[] = [];
  const env: Record<string, string> = {};
  for (const { path, env: name } of SECRET_FIELDS) {
    const key = path.slice('bus.'.length) as 'token' | 'pass';
    if (!bus[key]) continue;
    env[name] = bus[key];
    bus[key] = '';
    redacted.push(path);
  }
  return { cfg: { ...cfg, bus }, redacted, env };
}

/** Environment variables the project reads, all of them, here and nowhere else. */
export const ENV_VARS = {
  RLHF_STREAM_BACKEND: 'compute.backend',
  RLHF_STREAM_NATS_URL: 'bus.servers',
  RLHF_STREAM_NATS_TOKEN: 'bus.token',
  RLHF_STREAM_NATS_PASS: 'bus.pass',
} as const;

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const [section, key, sub, ...rest] = path.split('.');
  if (!section || !key || rest.length > 0) throw new ConfigError(`override ${JSON.stringify(path)} must have the form section.key=value or section.key.field=value`);
  if (!Object.hasOwn(SCHEMA, section)) throw new ConfigError(`unknown config section ${JSON.stringify(section)}; accepted sections are ${Object.keys(SCHEMA).join(', ')}`);
  const sec = (obj[section] ??= {}) as Record<string, unknown>;
  if (typeof sec !== 'object' || Array.isArray(sec)) throw new ConfigError(`${section} must be a mapping`);
  if (sub === undefined) {
    sec[key] = value;
    return;
  }
  // A field of a nested mapping (learner.lora.rank): the mapping's own parse names unknown fields.
  const nested = (sec[key] ??= {}) as Record<string, unknown>;
  if (typeof nested !== 'object' || Array.isArray(nested)) throw new ConfigError(`${section}.${key} must be a mapping`);
  nested[sub] = value;
}

/** Parses `--set` values: numbers and booleans as such, the rest as strings. */
function coerce(text: string): unknown {
  if (text === 'true' || text === 'false') return text === 'true';
  if (text.trim() !== '' && Number.isFinite(Number(text))) return Number(text);
  return text;
}

export interface LoadOptions {
  /** YAML file; omitted = all defaults. */
  file?: string;
  /** `section.key=value` strings, applied after the file. */
  overrides?: string[];
  /** Environment (defaults to process.env), applied before overrides. */
  env?: Record<string, string | undefined>;
}

/** Validates a plain object against the schema; errors name the key, the value and what is accepted. */
export function parseConfig(raw: unknown): Config {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config must be a mapping of sections; got ${JSON.stringify(raw)}`);
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(SCHEMA, key)) throw new ConfigError(`unknown config section ${JSON.stringify(key)}; accepted sections are ${Object.keys(SCHEMA).join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(SCHEMA)) out[name] = parseSection(spec as Section, obj[name], name);
  const cfg = out as Config;
  if (cfg.model.dModel % cfg.model.heads !== 0) {
    throw new ConfigError(`model.dModel must be divisible by model.heads; got dModel ${cfg.model.dModel} and heads ${cfg.model.heads}`);
  }
  if (cfg.model.positional === 'rotary' && (cfg.model.dModel / cfg.model.heads) % 2 !== 0) {
    throw new ConfigError(`model.positional rotary needs an even head size; got dModel/heads = ${cfg.model.dModel / cfg.model.heads}`);
  }
  checkScorer(cfg);
  checkPhaseStart(cfg);
  if (cfg.learner.adapter === 'lora' && cfg.learner.reference === 'previous') {
    throw new ConfigError('learner.reference previous needs a second copy of the policy, which learner.adapter lora does without; with lora the reference is the base model (learner.reference sft)');
  }
  return cfg;
}

/** Prompts per phase of a phase-driven run: offline is one phase; iterative splits the budget evenly, the last phase taking the remainder. */
export function phasePrompts(cfg: Config): number[] {
  const phases = cfg.run.mode === 'offline' ? 1 : cfg.run.iterations;
  const base = Math.floor(cfg.run.prompts / phases);
  return Array.from({ length: phases }, (_, t) => (t === phases - 1 ? cfg.run.prompts - base * (phases - 1) : base));
}

/**
 * learner.phaseStart labelled keeps a whole phase's pairs (one per prompt at most) in the pairs topic until the phase
 * is labelled, and the topic holds at most bus.maxPending unacked messages: a larger phase could never finish
 * labelling. Checked when the config is read and again by the phase drivers (the experiment sets run.mode per arm).
 */
export function checkPhaseStart(cfg: Config): void {
  if (cfg.run.mode === 'streaming' || cfg.learner.phaseStart !== 'labelled') return;
  const largest = Math.max(...phasePrompts(cfg));
  if (largest > cfg.bus.maxPending) {
    throw new ConfigError(
      `learner.phaseStart labelled keeps a whole phase's pairs in the pairs topic, which holds at most bus.maxPending ${cfg.bus.maxPending}; ` +
        `run.mode ${cfg.run.mode} makes phases of up to ${largest} prompts (run.prompts ${cfg.run.prompts}${cfg.run.mode === 'iterative' ? `, run.iterations ${cfg.run.iterations}` : ''}). ` +
        `Raise bus.maxPending to at least ${largest}, or set learner.phaseStart=arrival`,
    );
  }
}

/** The cross-field rules of judge.scorer: what each scorer needs from its sections. */
function checkScorer(cfg: Config): void {
  const s = cfg.judge.scorer;
  if ((s === 'bt' || s === 'pairwise') && cfg.rm.kind !== s) {
    throw new ConfigError(`judge.scorer ${s} needs the ${s} proxy model, but rm.kind (the proxy model trained and loaded) is ${cfg.rm.kind}; set rm.kind=${s}, or judge.scorer=proxy`);
  }
  if ((s === 'http-reward' || s === 'llm-judge') && !/^https?:\/\/./.test(cfg.judge.url)) {
    throw new ConfigError(`judge.scorer ${s} needs judge.url, an http:// or https:// URL; got ${JSON.stringify(cfg.judge.url)}`);
  }
  if ((s === 'http-reward' || s === 'llm-judge') && /^https?:\/\/[^/]*@/.test(cfg.judge.url)) {
    // The config is written to the run's records; a key belongs in the environment variable judge.apiKeyEnv names.
    throw new ConfigError('judge.url must not carry credentials (user:password@); put the key in an environment variable and name it in judge.apiKeyEnv');
  }
  if (s === 'llm-judge') {
    const missing = ['{prompt}', '{response_a}', '{response_b}'].filter((p) => !cfg.llmJudge.template.includes(p));
    if (missing.length > 0) throw new ConfigError(`llmJudge.template must contain {prompt}, {response_a} and {response_b}; missing ${missing.join(', ')}`);
  }
  if (s === 'module' && cfg.scorerModule.path === '') {
    throw new ConfigError('judge.scorer module needs scorerModule.path: a .js, .mjs or .ts file exporting score(prompt, responses) or compare(prompt, a, b)');
  }
}

export function loadConfig(opts: LoadOptions = {}): Config {
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${JSON.stringify(opts.file)}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) ?? {}) as Record<string, unknown>;
    } catch (err) {
      // The parser's message goes on with a code frame; its first line has the problem and the line and column.
      throw new ConfigError(`config file ${opts.file} is not valid YAML: ${(err as Error).message.split('\n')[0]!.trim()}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${opts.file} must hold a mapping of sections`);
  }
  const env = opts.env ?? process.env;
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, path, v);
  }
  for (const o of opts.overrides ?? []) {
    const eq = o.indexOf('=');
    if (eq < 0) throw new ConfigError(`override ${JSON.stringify(o)} must have the form section.key=value`);
    setPath(raw, o.slice(0, eq), coerce(o.slice(eq + 1)));
  }
  return parseConfig(raw);
}

/** Markdown table of every field: for `rlhf-stream config --doc` and the README. */
export function describeSchema(): string {
  const rows = ['| key | default | accepts | description |', '|---|---|---|---|'];
  for (const [section, spec] of Object.entries(SCHEMA)) {
    for (const [key, f] of Object.entries(spec as Section)) {
      rows.push(`| ${section}.${key} | \`${JSON.stringify(f.default)}\` | ${f.accepts} | ${f.description} |`);
    }
  }
  return rows.join('\n');
}
