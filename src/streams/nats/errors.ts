// How NATS client errors are read: which ones a publish retries, and what a failed connection says to the user.
import { readFileSync } from 'node:fs';
import { credsAuthenticator, ErrorCode, nkeyAuthenticator, type ConnectionOptions, type NatsError } from 'nats';
import type { BusConfig } from '../../config/index.js';
import { BusError } from '../bus.js';
import { inboxPrefixOf } from './permissions.js';

/** JetStream API error: the stream is at max_msgs with discard=new (a full work topic). */
const ERR_STREAM_FULL = 10077;

export function isNatsError(err: unknown): err is NatsError {
  return err instanceof Error && typeof (err as NatsError).code === 'string';
}

/** The server refused the subject for this user's permissions. */
export function permissionRefused(err: unknown): boolean {
  return isNatsError(err) && (err.code === ErrorCode.PermissionsViolation || /permissions violation/i.test(err.message));
}

/** Errors after which the same publish (same msgId) is safely retried. */
export function retryable(err: unknown): 'full' | 'transient' | undefined {
  if (!isNatsError(err)) return undefined;
  if (err.api_error?.err_code === ERR_STREAM_FULL || /maximum messages exceeded/.test(err.message)) return 'full';
  const codes: string[] = [ErrorCode.Timeout, ErrorCode.NoResponders, ErrorCode.Disconnect, ErrorCode.JetStream408RequestTimeout];
  return codes.includes(err.code) ? 'transient' : undefined;
}

export function connectError(err: unknown, cfg: BusConfig): BusError {
  const where = cfg.servers.join(', ');
  if (isNatsError(err) && (err.code === ErrorCode.AuthorizationViolation || err.code === ErrorCode.BadAuthentication || err.code === ErrorCode.AuthenticationExpired)) {
    return new BusError(`NATS server at ${where} refused the connection: authorization violation; set bus.token / bus.user+bus.pass / bus.credsFile`);
  }
  if (isNatsError(err) && err.code === ErrorCode.ConnectionRefused) {
    return new BusError(`cannot reach a NATS server at ${where} (connection refused); start one (rlhf-stream cluster, or nats-server -js) or set bus.servers`);
  }
  return new BusError(`cannot connect to NATS at ${where}: ${(err as Error).message}`);
}

export function connectionOptions(cfg: BusConfig, runId: string): ConnectionOptions {
  const o: ConnectionOptions = {
    servers: cfg.servers,
    name: `rlhf-stream/${runId}`,
    // Actors outlive server restarts: reconnect forever, the status loop logs each attempt.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: 10_000,
  };
  // Per-role users may subscribe only to their own inbox (src/streams/nats/permissions.ts): replies come back there.
  const inbox = cfg.inboxPrefix || (cfg.user ? inboxPrefixOf(cfg.user) : '');
  if (inbox) o.inboxPrefix = inbox;
  if (cfg.token) o.token = cfg.token;
  if (cfg.user) {
    o.user = cfg.user;
    o.pass = cfg.pass;
  }
  if (cfg.credsFile) o.authenticator = credsAuthenticator(readFileSync(cfg.credsFile));
  else if (cfg.nkeySeedFile) o.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(cfg.nkeySeedFile, 'utf8').trim()));
  if (cfg.tlsCaFile || cfg.tlsCertFile || cfg.tlsKeyFile) {
    o.tls = {
      ...(cfg.tlsCaFile ? { caFile: cfg.tlsCaFile } : {}),
      ...(cfg.tlsCertFile ? { certFile: cfg.tlsCertFile } : {}),
      ...(cfg.tlsKeyFile ? { keyFile: cfg.tlsKeyFile } : {}),
    };
  }
  return o;
}
