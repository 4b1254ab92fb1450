// A strict reader of the Prometheus text exposition format, for tests.
import assert from 'node:assert/strict';

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: ParsedSample[];
}

/** A strict reader of the text format (version 0.0.4): throws on any line it does not understand. */
export function parsePrometheus(text: string): Parsed {
  const out: Parsed = { help: new Map(), type: new Map(), samples: [] };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      assert.ok(!out.help.has(m[1]!), `duplicate HELP for ${m[1]}`);
      out.help.set(m[1]!, m[2]!);
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      assert.ok(!out.type.has(m[1]!), `duplicate TYPE for ${m[1]}`);
      out.type.set(m[1]!, m[2]!);
    } else if ((m = sampleRe.exec(line))) {
      const labels: Record<string, string> = {};
      if (m[2]) {
        labelRe.lastIndex = 0;
        let l: RegExpExecArray | null;
        let consumed = 0;
        while ((l = labelRe.exec(m[2]))) {
          labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
          consumed = labelRe.lastIndex;
        }
        assert.equal(consumed, m[2].length, `bad label set in ${JSON.stringify(line)}`);
      }
      const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
      assert.ok(!Number.isNaN(value) || m[3] === 'NaN', `bad value in ${JSON.stringify(line)}`);
      out.samples.push({ name: m[1]!, labels, value });
    } else {
      assert.fail(`line is not Prometheus text format: ${JSON.stringify(line)}`);
    }
  }
  return out;
}
