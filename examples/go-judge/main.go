// An external judge for rlhf-stream written from docs/protocol.md alone: it reads sample groups from the run's
// samples stream (durable "judges", shared with the TypeScript judges), scores each response by a toy rule
// (distinct tokens, the shorter response wins ties), publishes one pair per group on the pairs subject with
// pair id "p:<groupId>", dead-letters what it cannot use, and publishes its metrics on its own metrics subject.
//
// Build (Debian: golang-go, golang-github-nats-io-go-nats-dev, golang-github-vmihailenco-msgpack.v5-dev), offline:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o go-judge .
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"
)

type Sample struct {
	RunID          string  `msgpack:"runId"`
	SampleID       string  `msgpack:"sampleId"`
	PromptID       string  `msgpack:"promptId"`
	PolicyVersion  int64   `msgpack:"policyVersion"`
	GeneratorID    string  `msgpack:"generatorId"`
	StartedAt      float64 `msgpack:"startedAt"`
	CreatedAt      float64 `msgpack:"createdAt"`
	PromptTokens   []int64 `msgpack:"promptTokens"`
	ResponseTokens []int64 `msgpack:"responseTokens"`
	Text           string  `msgpack:"text"`
	Finished       bool    `msgpack:"finished"`
	// Optional; passed through to the pair for the learner's weight-sync check.
	LastPolicyVersion *int64 `msgpack:"lastPolicyVersion,omitempty"`
	BehaviourLogprobs []byte `msgpack:"behaviourLogprobs,omitempty"`
}

type SampleGroup struct {
	Type          string   `msgpack:"type"`
	V             int      `msgpack:"v"`
	RunID         string   `msgpack:"runId"`
	GroupID       string   `msgpack:"groupId"`
	PromptID      string   `msgpack:"promptId"`
	PolicyVersion int64    `msgpack:"policyVersion"`
	GeneratorID   string   `msgpack:"generatorId"`
	Samples       []Sample `msgpack:"samples"`
}

type PairSide struct {
	SampleID          string  `msgpack:"sampleId"`
	ResponseTokens    []int64 `msgpack:"responseTokens"`
	Text              string  `msgpack:"text"`
	Score             float64 `msgpack:"score"`
	PolicyVersion     int64   `msgpack:"policyVersion"`
	LastPolicyVersion *int64  `msgpack:"lastPolicyVersion,omitempty"`
	BehaviourLogprobs []byte  `msgpack:"behaviourLogprobs,omitempty"`
}

type Pair struct {
	Type         string   `msgpack:"type"`
	V            int      `msgpack:"v"`
	RunID        string   `msgpack:"runId"`
	PairID       string   `msgpack:"pairId"`
	PromptID     string   `msgpack:"promptId"`
	GroupID      string   `msgpack:"groupId"`
	PromptTokens []int64  `msgpack:"promptTokens"`
	Chosen       PairSide `msgpack:"chosen"`
	Rejected     PairSide `msgpack:"rejected"`
	JudgeID      string   `msgpack:"judgeId"`
	JudgeModel   string   `msgpack:"judgeModel"`
	Margin       float64  `msgpack:"margin"`
	CreatedAt    float64  `msgpack:"createdAt"`
}

type DeadLetter struct {
	Type       string  `msgpack:"type"`
	V          int     `msgpack:"v"`
	RunID      string  `msgpack:"runId"`
	Topic      string  `msgpack:"topic"`
	Reason     string  `msgpack:"reason"`
	Deliveries uint64  `msgpack:"deliveries"`
	Payload    []byte  `msgpack:"payload"`
	Ts         float64 `msgpack:"ts"`
}

type Metrics struct {
	Type    string             `msgpack:"type"`
	V       int                `msgpack:"v"`
	RunID   string             `msgpack:"runId"`
	ActorID string             `msgpack:"actorId"`
	Role    string             `msgpack:"role"`
	Ts      float64            `msgpack:"ts"`
	Values  map[string]float64 `msgpack:"values"`
	State   string             `msgpack:"state"`
}

const errStreamFull = 10077

// marshal writes integers in their smallest msgpack form (the library's default for int64 fields is 9 bytes,
// which the TypeScript side also reads, but compact is smaller).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

// score: distinct token ids in the response (a toy stand-in for a reward model).
func score(s Sample) float64 {
	seen := map[int64]bool{}
	for _, t := range s.ResponseTokens {
		seen[t] = true
	}
	return float64(len(seen))
}

// check returns why a group cannot be judged, or "" (the same rules the TypeScript judge applies).
func check(g *SampleGroup, runID string, vocab int) string {
	if g.Type != "samples" || g.V != 1 {
		return fmt.Sprintf("samples.type/v must be \"samples\"/1; got %q/%d", g.Type, g.V)
	}
	if g.RunID != runID {
		return fmt.Sprintf("group from run %q; this run is %q", g.RunID, runID)
	}
	if len(g.Samples) < 2 {
		return fmt.Sprintf("group %s has %d samples; pairing needs at least 2", g.GroupID, len(g.Samples))
	}
	for i, s := range g.Samples {
		for _, t := range append(append([]int64{}, s.PromptTokens...), s.ResponseTokens...) {
			if t < 0 || (vocab > 0 && t >= int64(vocab)) {
				return fmt.Sprintf("samples.samples[%d] has token id %d outside [0, %d)", i, t, vocab)
			}
		}
	}
	return ""
}

func side(s Sample, sc float64) PairSide {
	return PairSide{SampleID: s.SampleID, ResponseTokens: s.ResponseTokens, Text: s.Text, Score: sc, PolicyVersion: s.PolicyVersion,
		LastPolicyVersion: s.LastPolicyVersion, BehaviourLogprobs: s.BehaviourLogprobs}
}

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL(s), comma-separated")
	prefix := flag.String("prefix", "rlhf", "bus.prefix of the run")
	runID := flag.String("run", "", "run id (required)")
	id := flag.String("id", "go-judge", "this judge's actor id (its metrics subject; its NATS user under per-role permissions)")
	user := flag.String("user", "", "NATS user")
	pass := flag.String("pass", os.Getenv("RLHF_STREAM_NATS_PASS"), "NATS password (or RLHF_STREAM_NATS_PASS)")
	idleExit := flag.Duration("idle-exit", 0, "exit after this long without a sample group once the run's end is written (0: only on SIGTERM)")
	flag.Parse()
	if *runID == "" {
		log.Fatal("error: --run RUN_ID is required")
	}
	opts := []nats.Option{nats.Name("go-judge/" + *runID), nats.MaxReconnects(-1)}
	if *user != "" {
		// Per-role users read replies only on their own inbox prefix (docs/protocol.md, Permissions).
		opts = append(opts, nats.UserInfo(*user, *pass), nats.CustomInboxPrefix("_INBOX_"+*user))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		log.Fatalf("error: cannot connect to %s: %v", *url, err)
	}
	defer nc.Drain()
	js, err := nc.JetStream()
	if err != nil {
		log.Fatalf("error: %v", err)
	}
	subj := func(t string) string { return *prefix + "." + *runID + "." + t }
	base := strings.ToUpper(*prefix) + "_" + *runID

	// The run-info record: durable names, vocabulary size, maxDeliver. Written by the launcher before actors start.
	control, err := js.KeyValue(base + "_CONTROL")
	if err != nil {
		log.Fatalf("error: run %s has no control bucket %s_CONTROL (is the run started?): %v", *runID, base, err)
	}
	entry, err := control.Get("info")
	if err != nil {
		log.Fatalf("error: run %s has no run-info record: %v", *runID, err)
	}
	var info struct {
		VocabSize int               `json:"vocabSize"`
		Durables  map[string]string `json:"durables"`
		Bus       struct {
			MaxDeliver int `json:"maxDeliver"`
		} `json:"bus"`
	}
	if err := json.Unmarshal(entry.Value(), &info); err != nil {
		log.Fatalf("error: run-info record is not JSON: %v", err)
	}
	durable := info.Durables["samples"]
	log.Printf("go-judge %s: run %s, vocabulary %d, durable %q, maxDeliver %d", *id, *runID, info.VocabSize, durable, info.Bus.MaxDeliver)

	sub, err := js.PullSubscribe(subj("samples"), durable, nats.Bind(base+"_SAMPLES", durable))
	if err != nil {
		// The consumer may not exist yet (no TypeScript judge started): create it with the documented settings.
		sub, err = js.PullSubscribe(subj("samples"), durable, nats.BindStream(base+"_SAMPLES"), nats.ManualAck(),
			nats.AckExplicit(), nats.MaxDeliver(info.Bus.MaxDeliver+1), nats.AckWait(30*time.Second))
		if err != nil {
			log.Fatalf("error: cannot consume %s as %q: %v", subj("samples"), durable, err)
		}
	}
	counts := map[string]float64{"judge_groups_total": 0, "judge_pairs_total": 0, "judge_ties_total": 0, "judge_dead_letters_total": 0}
	publish := func(subject string, v any, msgID string) error {
		b, err := marshal(v)
		if err != nil {
			return err
		}
		m := nats.NewMsg(subject)
		m.Data = b
		m.Header.Set(nats.MsgIdHdr, msgID)
		for backoff := 10 * time.Millisecond; ; {
			_, err = js.PublishMsg(m)
			var apiErr *nats.APIError
			if err == nil {
				return nil
			}
			// A full work topic is backpressure: wait and publish again with the same msgId.
			if errors.As(err, &apiErr) && apiErr.ErrorCode == errStreamFull || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
				time.Sleep(backoff)
				if backoff < 200*time.Millisecond {
					backoff *= 2
				}
				continue
			}
			return err
		}
	}
	deadLetter := func(m *nats.Msg, reason string, deliveries uint64) {
		d := DeadLetter{Type: "dead_letter", V: 1, RunID: *runID, Topic: "samples", Reason: reason, Deliveries: deliveries, Payload: m.Data, Ts: nowMs()}
		if err := publish(subj("dead."+*id), d, randomID(*id)); err != nil {
			log.Fatalf("error: dead-lettering failed: %v", err)
		}
		counts["judge_dead_letters_total"]++
		_ = m.Term()
	}
	sendMetrics := func(state string) {
		mm := Metrics{Type: "metrics", V: 1, RunID: *runID, ActorID: *id, Role: "judge", Ts: nowMs(), Values: counts, State: state}
		if err := publish(subj("metrics."+*id), mm, randomID(*id)); err != nil {
			log.Printf("metrics publish failed: %v", err)
		}
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	lastWork, lastMetrics := time.Now(), time.Now()
	for {
		select {
		case <-stop:
			sendMetrics("stopped")
			return
		default:
		}
		if time.Since(lastMetrics) > time.Second {
			sendMetrics("running")
			lastMetrics = time.Now()
		}
		if *idleExit > 0 && time.Since(lastWork) > *idleExit {
			if _, err := control.Get("end"); err == nil {
				sendMetrics("stopped")
				log.Printf("go-judge %s: run ended; %v groups, %v pairs, %v ties, %v dead letters", *id, counts["judge_groups_total"], counts["judge_pairs_total"], counts["judge_ties_total"], counts["judge_dead_letters_total"])
				return
			}
		}
		msgs, err := sub.Fetch(16, nats.MaxWait(time.Second))
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			log.Fatalf("error: fetch: %v", err)
		}
		for _, m := range msgs {
			lastWork = time.Now()
			meta, err := m.Metadata()
			if err != nil {
				log.Fatalf("error: not a JetStream message: %v", err)
			}
			if info.Bus.MaxDeliver > 0 && meta.NumDelivered > uint64(info.Bus.MaxDeliver) {
				deadLetter(m, fmt.Sprintf("not acked within ackWaitMs after %d deliveries", info.Bus.MaxDeliver), meta.NumDelivered)
				continue
			}
			var g SampleGroup
			if err := msgpack.Unmarshal(m.Data, &g); err != nil {
				deadLetter(m, "samples: not a valid sample group: "+err.Error(), meta.NumDelivered)
				continue
			}
			if why := check(&g, *runID, info.VocabSize); why != "" {
				deadLetter(m, why, meta.NumDelivered)
				continue
			}
			counts["judge_groups_total"]++
			best, worst := 0, 0
			scores := make([]float64, len(g.Samples))
			for i, s := range g.Samples {
				scores[i] = score(s)
				if scores[i] > scores[best] || (scores[i] == scores[best] && len(s.ResponseTokens) < len(g.Samples[best].ResponseTokens)) {
					best = i
				}
				if scores[i] < scores[worst] || (scores[i] == scores[worst] && len(s.ResponseTokens) > len(g.Samples[worst].ResponseTokens)) {
					worst = i
				}
			}
			if best == worst {
				counts["judge_ties_total"]++
				_ = m.Ack()
				continue
			}
			b, w := g.Samples[best], g.Samples[worst]
			p := Pair{Type: "pair", V: 1, RunID: *runID, PairID: "p:" + g.GroupID, PromptID: g.PromptID, GroupID: g.GroupID,
				PromptTokens: b.PromptTokens, Chosen: side(b, scores[best]), Rejected: side(w, scores[worst]),
				JudgeID: *id, JudgeModel: "go-distinct-tokens", Margin: scores[best] - scores[worst], CreatedAt: nowMs()}
			// The pair id is the msgId: a redelivered group yields the same pair, stored once.
			if err := publish(subj("pairs"), p, p.PairID); err != nil {
				log.Fatalf("error: publishing pair %s: %v", p.PairID, err)
			}
			counts["judge_pairs_total"]++
			_ = m.Ack() // only after the pair's PubAck: its effect is durable
		}
	}
}

// randomID is a msgId for the metrics and dead streams, which every role writes: the duplicate window is per stream,
// so an id another participant could guess (a counter, a clock) could be taken first and this message dropped.
func randomID(actor string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		log.Fatalf("error: no randomness for a msgId: %v", err)
	}
	return actor + "-" + hex.EncodeToString(b)
}
