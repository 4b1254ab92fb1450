// Moves a connection off a cluster node whose JetStream keeps answering 503 while other nodes may be fine.
import type { JetStreamManager, NatsConnection } from 'nats';

export interface NodeWatchOptions {
  /** How often the node is asked for the account's JetStream info (a request every node answers or forwards). */
  everyMs: number;
  /** How long the node must answer only 503 / "no responders" before the connection moves to another node. */
  switchAfterMs: number;
  log: (line: string) => void;
}

export const NODE_WATCH_DEFAULTS = { everyMs: 5000, switchAfterMs: 20_000 };

/**
 * A 503 answer ("JetStream system temporarily unavailable", or no responders) says the node this client talks to sees
 * no JetStream metadata leader. During an election that lasts seconds; a node that was paused or cut off can stay in
 * that state long after its peers agreed on a leader, and every JetStream call of its clients (pulls, reads, stores)
 * fails meanwhile. The client library reconnects only when the TCP connection breaks, and this one does not: so the
 * watch asks for a reconnect, which goes to the next server of the connection's list. A timeout does not count: on a
 * loaded machine it says the node is slow, and moving would not help.
 */
export class NodeWatch {
  private stopped = false;
  private wake: () => void = () => {};
  private readonly loop: Promise<void>;
  /** Reconnects asked for so far. */
  moves = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly o: NodeWatchOptions,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let failingSince: number | undefined;
    while (!this.stopped && !this.nc.isClosed()) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.o.everyMs);
        // A watch never keeps a process alive that has nothing else to do.
        t.unref();
        this.wake = () => (clearTimeout(t), r());
      });
      if (this.stopped || this.nc.isClosed()) return;
      const node = this.nc.info?.server_name ?? 'unknown';
      let unavailable = false;
      try {
        await this.jsm.getAccountInfo();
      } catch (err) {
        unavailable = isUnavailable(err);
      }
      if (!unavailable) {
        failingSince = undefined;
        continue;
      }
      const now = Date.now();
      failingSince ??= now;
      if (now - failingSince < this.o.switchAfterMs || this.stopped || this.nc.isClosed()) continue;
      if (this.servers() < 2) continue;
      this.o.log(`bus: NATS node ${node} has answered 503 (JetStream unavailable) for ${((now - failingSince) / 1000).toFixed(0)} s; moving to another node`);
      failingSince = undefined;
      this.moves++;
      await this.nc.reconnect().catch((err: unknown) => this.o.log(`bus: reconnect away from node ${node} failed: ${(err as Error).message}`));
    }
  }

  /** Servers the connection may reconnect to (those configured plus those the cluster announced). */
  private servers(): number {
    const pool = (this.nc as unknown as { protocol?: { servers?: { length(): number } } }).protocol?.servers;
    return typeof pool?.length === 'function' ? pool.length() : 2;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }
}

/** 503 from JetStream (no metadata leader, or no responders for the API subject). */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { code?: number; err_code?: number } } | null;
  if (e?.code === '503' || e?.api_error?.code === 503 || e?.api_error?.err_code === 10008) return true;
  return /no responders|temporarily unavailable/i.test((err as Error)?.message ?? '');
}
