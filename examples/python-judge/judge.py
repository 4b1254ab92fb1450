#!/usr/bin/env python3
"""An external judge for rlhf-stream written from docs/protocol.md alone.

It scores a response by its distinct tokens. It speaks the NATS client protocol over a plain socket (no NATS library) and JetStream through its request/reply
API, with Debian's python3-msgpack for the payloads. It reads the run-info record, pulls sample groups from the
`judges` durable, pairs the best-scored response against the worst, publishes the
pair with its id as Nats-Msg-Id, dead-letters what breaks the rules, publishes its metrics, and exits when the
learner writes the control key `end`.

    python3 judge.py --nats nats://127.0.0.1:4222 --run RUN_ID [--id py-judge] [--user U --password P | --token T]
"""
import argparse
import base64
import json
import os
import secrets
import select
import socket
import sys
import time
import urllib.parse

import msgpack


class NatsError(Exception):
    pass


class Nats:
    """The client protocol: INFO/CONNECT, PUB/HPUB, SUB, MSG/HMSG, PING/PONG; one inbox subscription for replies."""

    def __init__(self, url, user=None, password=None, token=None):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=10)
        self.sock.settimeout(None)
        self.buf = b""
        self.inbox = "_INBOX." + os.urandom(8).hex()
        self.next_reply = 0
        self.pending = []  # messages read while waiting for something else
        line = self._line()
        if not line.startswith(b"INFO "):
            raise NatsError(f"expected INFO from the server, got {line[:80]!r}")
        self.info = json.loads(line[5:])
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "protocol": 1,
                   "lang": "python-raw", "version": "1"}
        if token:
            connect["auth_token"] = token
        if user:
            connect["user"], connect["pass"] = user, password or ""
        self._send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        while True:
            msg = self._read()
            if msg == "PONG":
                break
        self._send(f"SUB {self.inbox}.* 1\r\n".encode())

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise NatsError("the server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        """One protocol message: 'PONG', or a dict for MSG/HMSG with subject, reply, headers, status, data."""
        while True:
            line = self._line()
            op = line.split(b" ", 1)[0].upper()
            if op == b"PING":
                self._send(b"PONG\r\n")
            elif op == b"PONG":
                return "PONG"
            elif op in (b"+OK", b"INFO"):
                continue
            elif op == b"-ERR":
                raise NatsError(line.decode(errors="replace"))
            elif op == b"MSG":
                parts = line.decode().split(" ")
                subject, reply, size = parts[1], (parts[3] if len(parts) == 5 else None), int(parts[-1])
                return {"subject": subject, "reply": reply, "headers": {}, "status": None, "data": self._bytes(size)}
            elif op == b"HMSG":
                parts = line.decode().split(" ")
                subject, reply = parts[1], (parts[3] if len(parts) == 6 else None)
                hsize, total = int(parts[-2]), int(parts[-1])
                raw = self._bytes(total)
                head, data = raw[:hsize].decode(), raw[hsize:]
                lines = head.split("\r\n")
                # The first line is "NATS/1.0" or "NATS/1.0 404 No Messages": a status from the server.
                first = lines[0].split(" ", 2)
                status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None
                headers = {}
                for h in lines[1:]:
                    if ":" in h:
                        k, v = h.split(":", 1)
                        headers[k.strip()] = v.strip()
                return {"subject": subject, "reply": reply, "headers": headers, "status": status, "data": data}
            else:
                raise NatsError(f"unexpected protocol line {line[:80]!r}")

    def publish(self, subject, data, reply=None, headers=None):
        target = f"{subject} {reply}" if reply else subject
        if headers:
            head = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            self._send(f"HPUB {target} {len(head)} {len(head) + len(data)}\r\n".encode() + head + data + b"\r\n")
        else:
            self._send(f"PUB {target} {len(data)}\r\n".encode() + data + b"\r\n")

    def new_reply(self):
        self.next_reply += 1
        return f"{self.inbox}.{self.next_reply}"

    def replies(self, reply, timeout, pulled=False):
        """
        Yields the messages sent to `reply` until `timeout` seconds pass; others read meanwhile wait for their reader.
        A pulled JetStream message keeps its own subject: with `pulled`, messages with a `$JS.ACK.` reply count too.
        """
        mine = lambda m: m["subject"] == reply or (pulled and (m["reply"] or "").startswith("$JS.ACK."))
        deadline = time.time() + timeout
        while True:
            kept = next((m for m in self.pending if mine(m)), None)
            if kept is not None:
                self.pending.remove(kept)
                yield kept
                continue
            left = deadline - time.time()
            if left <= 0:
                return
            # Wait for data only between messages: a message once started is read whole.
            if b"\r\n" not in self.buf and not select.select([self.sock], [], [], left)[0]:
                return
            m = self._read()
            if isinstance(m, dict):
                self.pending.append(m)

    def request(self, subject, data, headers=None, timeout=5.0):
        reply = self.new_reply()
        self.publish(subject, data, reply, headers)
        for m in self.replies(reply, timeout):
            if m["status"] == 503:
                raise NatsError(f"no responders on {subject}")
            return m
        raise NatsError(f"no reply on {subject} within {timeout} s")


class JetStream:
    def __init__(self, nc):
        self.nc = nc

    def api(self, call, body):
        m = self.nc.request("$JS.API." + call, json.dumps(body).encode() if body is not None else b"")
        r = json.loads(m["data"])
        if "error" in r:
            raise ApiError(r["error"])
        return r

    def last_value(self, stream, subject):
        """The newest message on `subject` (a KV key), or None when there is none or it was deleted."""
        try:
            r = self.api(f"STREAM.MSG.GET.{stream}", {"last_by_subj": subject})
        except ApiError as e:
            if e.code == 404:
                return None
            raise
        msg = r["message"]
        hdrs = base64.b64decode(msg["hdrs"]).decode() if msg.get("hdrs") else ""
        if "KV-Operation: DEL" in hdrs or "KV-Operation: PURGE" in hdrs:
            return None
        return base64.b64decode(msg.get("data") or "")

    def publish(self, subject, data, msg_id):
        """Publishes and waits for the PubAck; a full work topic (10077) and timeouts are retried with the same id."""
        delay = 0.01
        while True:
            try:
                m = self.nc.request(subject, data, headers={"Nats-Msg-Id": msg_id})
                r = json.loads(m["data"])
                if "error" not in r:
                    return r
                if r["error"].get("err_code") != 10077:
                    raise ApiError(r["error"])
            except NatsError as e:
                if "no reply" not in str(e) and "no responders" not in str(e):
                    raise
            time.sleep(delay)
            delay = min(0.2, delay * 2)


class ApiError(Exception):
    def __init__(self, err):
        super().__init__(f"JetStream API error {err.get('code')} ({err.get('err_code')}): {err.get('description')}")
        self.code, self.err_code = err.get("code"), err.get("err_code")


def ack_delivery_count(reply):
    """$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (servers with domains add two tokens)."""
    t = reply.split(".")
    return int(t[4] if len(t) == 9 else t[6]), int(t[5] if len(t) == 9 else t[7])


class Invalid(Exception):
    pass


def check_group(g, run_id, vocab):
    """What docs/protocol.md asks of a SampleGroupMsg a judge pairs; raises Invalid naming the field and the value."""
    def need(ok, what):
        if not ok:
            raise Invalid(what)
    need(isinstance(g, dict), f"must be a map; got {type(g).__name__}")
    need(g.get("type") == "samples", f"type must be \"samples\"; got {g.get('type')!r}")
    need(g.get("v") == 1, f"v must be 1; got {g.get('v')!r}")
    need(g.get("runId") == run_id, f"runId must be {run_id!r}; got {g.get('runId')!r}")
    for k in ("groupId", "promptId"):
        need(isinstance(g.get(k), str) and 0 < len(g[k]) <= 256, f"{k} must be a string of 1 to 256 characters; got {g.get(k)!r}")
    samples = g.get("samples")
    need(isinstance(samples, list) and len(samples) >= 2, "samples must be a list of at least 2 samples")
    for i, s in enumerate(samples):
        need(isinstance(s, dict), f"samples[{i}] must be a map")
        for k in ("promptTokens", "responseTokens"):
            toks = s.get(k)
            need(isinstance(toks, list), f"samples[{i}].{k} must be a list of token ids")
            bad = [x for x in toks if not (isinstance(x, int) and not isinstance(x, bool) and 0 <= x < vocab)]
            need(not bad, f"samples[{i}].{k} holds {bad[0]!r}, not a token id in [0, {vocab})" if bad else "")
        need(isinstance(s.get("sampleId"), str), f"samples[{i}].sampleId must be a string")
        need(isinstance(s.get("text"), str), f"samples[{i}].text must be a string")
        need(isinstance(s.get("policyVersion"), int) and s["policyVersion"] >= 0, f"samples[{i}].policyVersion must be a non-negative integer")


def score(tokens):
    """A stand-in scorer: distinct tokens, ties broken by the ids (your model here)."""
    return len(set(tokens)) + (sum(tokens) % 997) / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--run", required=True)
    ap.add_argument("--id", default="py-judge")
    ap.add_argument("--prefix", default="rlhf")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--token")
    a = ap.parse_args()

    nc = Nats(a.nats, a.user, a.password, a.token)
    js = JetStream(nc)
    P, run = a.prefix, a.run
    subj = lambda t: f"{P}.{run}.{t}"
    stream = lambda t: f"{P.upper()}_{run}_{t.upper()}"
    control = f"KV_{P.upper()}_{run}_CONTROL"
    key = lambda k: f"$KV.{P.upper()}_{run}_CONTROL.{k}"

    info = None
    while info is None:  # the run may not have started yet
        raw = js.last_value(control, key("info"))
        if raw is None:
            time.sleep(0.5)
            continue
        info = json.loads(raw)
    vocab, max_deliver = info["vocabSize"], info["bus"]["maxDeliver"]
    c = info["consumers"]["samples"]
    durable = c["durable"]
    # Use the durable as the run's actors made it; create it, with the run's settings, only when none exists yet.
    try:
        js.api(f"CONSUMER.INFO.{stream('samples')}.{durable}", None)
    except ApiError as e:
        if e.code != 404:
            raise
        js.api(f"CONSUMER.DURABLE.CREATE.{stream('samples')}.{durable}", {"stream_name": stream("samples"), "config": {
            "durable_name": durable, "ack_policy": "explicit", "deliver_policy": "all",
            "max_ack_pending": c["maxAckPending"], "ack_wait": c["ackWaitMs"] * 1_000_000, "max_deliver": c["maxDeliver"]}})
    print(f"{a.id}: run {run}, vocabulary {vocab}, durable {durable!r}, maxDeliver {max_deliver}", flush=True)

    counts = {"judge_groups_total": 0, "judge_samples_scored_total": 0, "judge_pairs_total": 0, "judge_ties_total": 0,
              "judge_dead_letters_total": 0}
    last_metrics = 0.0

    def publish_metrics(state):
        m = {"type": "metrics", "v": 1, "runId": run, "actorId": a.id, "role": "judge", "ts": time.time() * 1000,
             "values": {k: float(v) for k, v in counts.items()}, "state": state}
        js.publish(subj("metrics." + a.id), msgpack.packb(m, use_bin_type=True), f"{a.id}-{secrets.token_hex(16)}")

    def dead_letter(m, reason, deliveries, sseq):
        letter = {"type": "dead_letter", "v": 1, "runId": run, "topic": "samples", "reason": reason[:4096],
                  "deliveries": deliveries, "payload": m["data"], "ts": time.time() * 1000}
        js.publish(subj("dead." + a.id), msgpack.packb(letter, use_bin_type=True), f"{a.id}-{secrets.token_hex(16)}")
        nc.publish(m["reply"], b"+TERM")
        counts["judge_dead_letters_total"] += 1

    while True:
        if js.last_value(control, key("end")) is not None:
            publish_metrics("stopped")
            print(f"{a.id}: the run ended; exiting", flush=True)
            return 0
        if time.time() - last_metrics > 1:
            publish_metrics("running")
            last_metrics = time.time()
        reply = nc.new_reply()
        nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{stream('samples')}.{durable}", json.dumps({"batch": 8, "expires": 1_000_000_000}).encode(), reply)
        for m in nc.replies(reply, 1.5, pulled=True):
            if m["status"] in (404, 408):  # no messages now / the pull expired
                break
            if m["status"] is not None:  # 409 (leadership change, too many pulls) and others: pull again
                break
            deliveries, sseq = ack_delivery_count(m["reply"])
            if deliveries > max_deliver:
                dead_letter(m, f"not acked within ackWaitMs after {max_deliver} deliveries (maxDeliver {max_deliver})", deliveries, sseq)
                continue
            try:
                g = msgpack.unpackb(m["data"], raw=False)
                check_group(g, run, vocab)
            except Invalid as e:
                dead_letter(m, f"samples: not a valid sample group: {e}", deliveries, sseq)
                continue
            except Exception as e:  # not msgpack at all
                dead_letter(m, f"samples: not a valid sample group: not valid msgpack ({e})", deliveries, sseq)
                continue
            counts["judge_groups_total"] += 1
            counts["judge_samples_scored_total"] += len(g["samples"])
            scored = sorted(g["samples"], key=lambda s: score(s["responseTokens"]))
            worst, best = scored[0], scored[-1]
            lo, hi = score(worst["responseTokens"]), score(best["responseTokens"])
            if hi == lo:
                counts["judge_ties_total"] += 1
                nc.publish(m["reply"], b"+ACK")
                continue
            side = lambda s, score: {"sampleId": s["sampleId"], "responseTokens": s["responseTokens"], "text": s["text"],
                                     "score": float(score), "policyVersion": s["policyVersion"],
                                     # passed through when present: the learner's weight-sync check reads them
                                     **{k: s[k] for k in ("lastPolicyVersion", "behaviourLogprobs") if k in s}}
            pair = {"type": "pair", "v": 1, "runId": run, "pairId": "p:" + g["groupId"], "promptId": g["promptId"],
                    "groupId": g["groupId"], "promptTokens": best["promptTokens"], "chosen": side(best, hi),
                    "rejected": side(worst, lo), "judgeId": a.id, "judgeModel": "distinct-tokens",
                    "margin": float(hi - lo), "createdAt": time.time() * 1000}
            js.publish(subj("pairs"), msgpack.packb(pair, use_bin_type=True), pair["pairId"])
            counts["judge_pairs_total"] += 1
            nc.publish(m["reply"], b"+ACK")  # only after the pair's PubAck


if __name__ == "__main__":
    sys.exit(main())
