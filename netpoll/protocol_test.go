package netpoll

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// Scenario tables for the socket-free protocol state (protocol.go): each
// scenario is a sequence of steps on one connection's requests, each step
// with the outcome it must have.

type protoStep struct {
	do   string // "rpc 1", "fetch 3_0", "meta 4", "stream a", "resp <type> <key> [bytes]", "close"
	want string // the outcome, e.g. "rpc ok", "meta failed", "none", "stream start a", "count 2"
}

func runProtoScenario(t *testing.T, steps []protoStep) {
	t.Helper()
	r := newRequests()
	for i, st := range steps {
		f := strings.Fields(st.do)
		var got string
		switch f[0] {
		case "rpc":
			var id int64
			fmt.Sscan(f[1], &id)
			r.rpcs.put(id, RpcFunc{})
			got = fmt.Sprintf("count %d", r.count())
		case "fetch":
			id, _ := ParseStreamChunkID(f[1])
			r.fetches.put(id, ChunkFunc{})
			got = fmt.Sprintf("count %d", r.count())
		case "meta":
			var id int64
			fmt.Sscan(f[1], &id)
			r.metas.put(id, nil)
			got = fmt.Sprintf("count %d", r.count())
		case "stream":
			r.streams = append(r.streams, streamWait{id: f[1]})
			got = fmt.Sprintf("count %d", r.count())
		case "done":
			r.streamActive = false // the stream body completed
			got = fmt.Sprintf("count %d", r.count())
		case "resp":
			m := codec.Message{}
			switch f[1] {
			case "RpcResponse":
				m.Type = codec.TypeRpcResponse
			case "RpcFailure":
				m.Type = codec.TypeRpcFailure
			case "ChunkFetchSuccess":
				m.Type = codec.TypeChunkFetchSuccess
			case "ChunkFetchFailure":
				m.Type = codec.TypeChunkFetchFailure
			case "MergedBlockMetaSuccess":
				m.Type = codec.TypeMergedBlockMetaSuccess
			case "StreamResponse":
				m.Type = codec.TypeStreamResponse
			case "StreamFailure":
				m.Type = codec.TypeStreamFailure
			}
			if strings.Contains(f[2], "_") {
				m.Chunk, _ = ParseStreamChunkID(f[2])
			} else {
				fmt.Sscan(f[2], &m.RequestID)
				m.Stream = f[2]
			}
			if len(f) > 3 {
				fmt.Sscan(f[3], &m.ByteCount)
			}
			got = describeMatch(r.resolve(&m))
		case "close":
			rpcs, fetches, metas, streams := r.closeAll()
			got = fmt.Sprintf("failed %d %d %d %d, count %d", len(rpcs), len(fetches), len(metas), len(streams), r.count())
		default:
			t.Fatalf("step %d: unknown %q", i, st.do)
		}
		if got != st.want {
			t.Fatalf("step %d %q: got %q, want %q", i, st.do, got, st.want)
		}
	}
}

func describeMatch(m match) string {
	state := "ok"
	if m.failed {
		state = "failed"
	}
	switch m.kind {
	case matchRpc:
		return "rpc " + state
	case matchChunk:
		return "chunk " + state
	case matchMeta:
		return "meta " + state
	case matchStreamFail:
		return "stream failed " + m.stream.id
	case matchStreamStart:
		return "stream start " + m.stream.id
	case matchStreamEmpty:
		return "stream empty " + m.stream.id
	case matchStreamDrop:
		return "stream drop"
	}
	return "none"
}

func TestProtocolScenarios(t *testing.T) {
	scenarios := []struct {
		name  string
		steps []protoStep
	}{
		{"rpc answered once", []protoStep{
			{"rpc 1", "count 1"}, {"resp RpcResponse 1", "rpc ok"}, {"resp RpcResponse 1", "none"}, {"close", "failed 0 0 0 0, count 0"}}},
		{"rpc failure", []protoStep{
			{"rpc 1", "count 1"}, {"rpc 2", "count 2"}, {"resp RpcFailure 2", "rpc failed"}, {"close", "failed 1 0 0 0, count 0"}}},
		{"answer to nobody", []protoStep{
			{"resp RpcResponse 9", "none"}, {"resp ChunkFetchSuccess 1_0", "none"}, {"resp MergedBlockMetaSuccess 3", "none"}, {"resp StreamFailure s", "none"}}},
		{"merged meta: success, and failure through RpcFailure", []protoStep{
			{"meta 4", "count 1"}, {"meta 5", "count 2"}, {"resp MergedBlockMetaSuccess 4", "meta ok"},
			{"resp RpcFailure 5", "meta failed"}, {"resp RpcFailure 5", "none"}}},
		{"rpc and meta share an id space: the rpc wins", []protoStep{
			{"rpc 7", "count 1"}, {"meta 7", "count 2"}, {"resp RpcFailure 7", "rpc failed"}, {"resp RpcFailure 7", "meta failed"}}},
		{"chunks by stream and index", []protoStep{
			{"fetch 3_0", "count 1"}, {"fetch 3_1", "count 2"}, {"resp ChunkFetchFailure 3_1", "chunk failed"},
			{"resp ChunkFetchSuccess 3_0", "chunk ok"}, {"resp ChunkFetchSuccess 3_0", "none"}}},
		{"streams match in request order; a body keeps one outstanding", []protoStep{
			{"stream a", "count 1"}, {"stream b", "count 2"}, {"stream c", "count 3"},
			{"resp StreamResponse a 10", "stream start a"}, {"resp StreamFailure b", "stream failed b"},
			{"resp StreamResponse c 0", "stream empty c"}, {"done", "count 0"}}},
		{"stream body nobody asked for is dropped", []protoStep{
			{"resp StreamResponse x 5", "stream drop"}, {"resp StreamResponse x 0", "none"}}},
		{"close fails everything", []protoStep{
			{"rpc 1", "count 1"}, {"fetch 1_0", "count 2"}, {"meta 2", "count 3"}, {"stream s", "count 4"},
			{"close", "failed 1 1 1 1, count 0"}}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runProtoScenario(t, sc.steps) })
	}
}

func TestBoundsScenarios(t *testing.T) {
	cases := []struct {
		name  string
		limit int64
		ops   string // r: received, a: answered, s: stop
		over  string // over() after each op, as 0/1
	}{
		{"no bound", 0, "rrrr", "0000"},
		{"limit 2", 2, "rrara", "01010"},
		{"stop is for good", 3, "rsaa", "0111"},
		{"limit 1", 1, "rarr", "1011"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := bounds{limit: tc.limit}
			var got strings.Builder
			for _, op := range tc.ops {
				switch op {
				case 'r':
					b.received()
				case 'a':
					b.answered()
				case 's':
					b.stop.Store(true)
				}
				if b.over() {
					got.WriteByte('1')
				} else {
					got.WriteByte('0')
				}
			}
			if got.String() != tc.over {
				t.Fatalf("over after %s: %s, want %s", tc.ops, got.String(), tc.over)
			}
		})
	}
}
