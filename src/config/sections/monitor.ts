// Config slice for live monitoring: dashboard, Prometheus endpoint, metrics log.
import { bool, int, str } from '../fields.js';

export const monitor = {
  dashboard: bool(false, 'serve the live web dashboard'),
  host: str('127.0.0.1', 'address the dashboard and /metrics bind to'),
  port: int(8787, 0, 65535, 'dashboard port (0 = any free port)'),
  metricsPort: int(0, 0, 65535, 'Prometheus /metrics port (0 = off)'),
  intervalMs: int(1000, 50, 600_000, 'metrics publication period'),
  windowMs: int(10_000, 100, 3_600_000, 'span over which the monitor averages counter rates (samples/s, pairs/s, ...)'),
  historyPoints: int(3600, 10, 1_000_000, 'chart points the monitor keeps per series (one per interval)'),
  statusEveryMs: int(10_000, 100, 3_600_000, 'period of the plain status line when the output is not a terminal'),
};
