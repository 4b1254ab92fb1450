// `rlhf-stream monitor`: attach to a run on NATS and serve the live dashboard (and /metrics) until interrupted.
import { flag, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { CONFIG_FLAGS, configFromArgs } from '../common.js';
import { createBus } from '../../streams/index.js';
import { startMonitor } from '../../monitor/index.js';

export const monitorCommand: Command = {
  name: 'monitor',
  summary: 'attach to a run on NATS and serve the live dashboard, /api/state, /api/stream and /metrics',
  usage: [
    'rlhf-stream monitor --nats nats://host:port --run RUN_ID [--port N] [--host ADDR] [--dir RUN_DIR] [--durable NAME]',
    '                    [--config FILE] [--set section.key=value]',
    '',
    '  --nats     NATS server URL(s), comma-separated (default: bus.servers)',
    '  --run      run id to watch (default: run.id)',
    '  --port     dashboard port, 0 = any free port (default: monitor.port)',
    '  --host     address to bind (default: monitor.host, 127.0.0.1)',
    '  --dir      also write metrics.jsonl there, and report.md with plots on exit',
    '  --durable  consumer name on the metrics stream (default monitor-cli); monitors sharing a name split the messages',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'nats', 'run', 'port', 'host', 'dir', 'durable'],
  async run(args) {
    const cfg = configFromArgs(args);
    const runId = flag(args, 'run') ?? cfg.run.id;
    if (!runId) throw new UsageError('monitor needs --run RUN_ID (or run.id in the config): the run whose metrics to watch');
    if (!/^[A-Za-z0-9_-]+$/.test(runId)) throw new UsageError(`--run must match [A-Za-z0-9_-]+; got ${JSON.stringify(runId)}`);
    const nats = flag(args, 'nats');
    if (nats) cfg.bus.servers = nats.split(',').map((s) => s.trim()).filter(Boolean);
    cfg.bus.kind = 'nats';
    let port: number | undefined;
    const portText = flag(args, 'port');
    if (portText !== undefined) {
      port = Number(portText);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer in [0, 65535]; got ${JSON.stringify(portText)}`);
    }

    const bus = await createBus(cfg.bus, runId);
    const mon = await startMonitor(bus, cfg, {
      port,
      host: flag(args, 'host'),
      durable: flag(args, 'durable') ?? 'monitor-cli',
      runDir: flag(args, 'dir'),
      statusLine: process.stderr.isTTY ? process.stderr : false,
    });
    console.log(`dashboard: ${mon.url}  (metrics: ${mon.url}metrics)  watching run ${runId} on ${cfg.bus.servers.join(',')}; Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    try {
      await mon.stop();
    } finally {
      await bus.close();
    }
    return 0;
  },
};
