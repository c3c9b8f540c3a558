package netpoll

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec"
)

// Scenario tables for dispatch by type (protocol_dispatch.go): one
// connection's incoming requests, each step with the decision it must
// get and the bounds' state after it.

// fakeServed is a handler's capabilities and a stream manager's count.
type fakeServed struct {
	uploads, metas bool
	tracked        bool
	inFlight       int64
	asked          int // chunksInFlight calls: an RPC must not pay for them
}

func (f *fakeServed) acceptsUploads() bool { return f.uploads }
func (f *fakeServed) answersMetas() bool   { return f.metas }
func (f *fakeServed) chunksInFlight() (int64, bool) {
	f.asked++
	return f.inFlight, f.tracked
}

type dispatchStep struct {
	do   string // "<Type> [id|chunk|stream] [byteCount]", "answered", "inflight N", "uploadfail <text>"
	want string // the decision, then "| unanswered N, reading|paused"
}

func describeInbound(d inbound) string {
	var s string
	switch d.kind {
	case inIgnore:
		s = "ignore"
	case inRpc:
		s = "rpc"
	case inOneWay:
		s = "oneway"
	case inChunk:
		s = "chunk"
	case inStream:
		s = "stream"
	case inUpload:
		s = fmt.Sprintf("upload %d", d.uploadLen)
	case inMeta:
		s = "meta"
	case inRefuse:
		s = fmt.Sprintf("refuse %s %q", d.answer, d.text)
		if d.discard {
			s += fmt.Sprintf(" discard %d", d.discardN)
		}
	case inClose:
		s = fmt.Sprintf("close too many chunks %d/%d", d.inFlight, d.chunkCap)
	case inAnswerClose:
		s = fmt.Sprintf("answer %s %q then close", d.answer, d.text)
	}
	if d.counted {
		s += " counted"
	}
	return s
}

func runDispatchScenario(t *testing.T, served fakeServed, limit, chunkLimit int64, steps []dispatchStep) {
	t.Helper()
	b := bounds{limit: limit}
	for i, st := range steps {
		f := strings.Fields(st.do)
		var got string
		switch f[0] {
		case "answered":
			b.answered()
			got = "-"
		case "inflight":
			fmt.Sscan(f[1], &served.inFlight)
			got = "-"
		case "uploadfail":
			got = describeInbound(decideUploadFailed(errors.New(strings.Join(f[1:], " ")), &b))
		default:
			m := codec.Message{}
			for typ := codec.Type(0); typ < 20; typ++ {
				if typ.Valid() && typ.String() == f[0] {
					m.Type = typ
				}
			}
			if m.Type == 0 && f[0] != codec.Type(0).String() {
				t.Fatalf("step %d: unknown type %q", i, f[0])
			}
			if len(f) > 1 {
				if strings.Contains(f[1], "_") {
					m.Chunk, _ = ParseStreamChunkID(f[1])
				} else {
					fmt.Sscan(f[1], &m.RequestID)
					m.Stream = f[1]
				}
			}
			if len(f) > 2 {
				fmt.Sscan(f[2], &m.ByteCount)
			}
			asked := served.asked
			got = describeInbound(decideRequest(&m, &served, &b, chunkLimit))
			if m.Type == codec.TypeRpcRequest && served.asked != asked {
				t.Fatalf("step %d: an RPC asked the stream manager for its count", i)
			}
		}
		state := "reading"
		if b.over() {
			state = "paused"
		}
		got += fmt.Sprintf(" | unanswered %d, %s", b.unanswered.Load(), state)
		if got != st.want {
			t.Fatalf("step %d %q:\n got  %s\n want %s", i, st.do, got, st.want)
		}
	}
}

func TestDispatchScenarios(t *testing.T) {
	all := fakeServed{uploads: true, metas: true, tracked: true}
	plain := fakeServed{}
	scenarios := []struct {
		name       string
		served     fakeServed
		limit      int64 // maxOutstandingRequests
		chunkLimit int64 // maxChunksBeingTransferred
		steps      []dispatchStep
	}{
		{"rpcs count until answered; reading pauses at the limit and resumes", all, 2, 10, []dispatchStep{
			{"RpcRequest 1", "rpc counted | unanswered 1, reading"},
			{"RpcRequest 2", "rpc counted | unanswered 2, paused"},
			{"answered", "- | unanswered 1, reading"},
			{"RpcRequest 3", "rpc counted | unanswered 2, paused"},
			{"answered", "- | unanswered 1, reading"},
			{"answered", "- | unanswered 0, reading"}}},
		{"one-way messages owe nothing, however many", all, 1, 10, []dispatchStep{
			{"OneWayMessage", "oneway | unanswered 0, reading"},
			{"OneWayMessage", "oneway | unanswered 0, reading"}}},
		{"chunks and streams count, under the transfer limit", all, 0, 2, []dispatchStep{
			{"ChunkFetchRequest 3_0", "chunk counted | unanswered 1, reading"},
			{"inflight 1", "- | unanswered 1, reading"},
			{"StreamRequest s", "stream counted | unanswered 2, reading"},
			{"inflight 2", "- | unanswered 2, reading"},
			{"ChunkFetchRequest 3_1", "close too many chunks 2/2 | unanswered 2, reading"},
			{"StreamRequest t", "close too many chunks 2/2 | unanswered 2, reading"}}},
		{"no transfer tracker: no transfer limit", plain, 0, 1, []dispatchStep{
			{"inflight 5", "- | unanswered 0, reading"},
			{"ChunkFetchRequest 1_0", "chunk counted | unanswered 1, reading"},
			{"StreamRequest s", "stream counted | unanswered 2, reading"}}},
		{"an upload is not counted: its answer waits for its body", all, 1, 10, []dispatchStep{
			{"UploadStream 7 100", "upload 100 | unanswered 0, reading"},
			{"UploadStream 8 0", "upload 0 | unanswered 0, reading"}}},
		{"an upload nobody takes is refused and its body swallowed", plain, 0, 10, []dispatchStep{
			{"UploadStream 7 100", `refuse RpcFailure "this endpoint does not accept uploaded streams" discard 100 | unanswered 0, reading`},
			{"RpcRequest 8", "rpc counted | unanswered 1, reading"}}},
		{"a failed upload setup answers, stops reading for good, closes", all, 0, 10, []dispatchStep{
			{"UploadStream 7 100", "upload 100 | unanswered 0, reading"},
			{"uploadfail disk full", `answer RpcFailure "disk full" then close | unanswered 0, paused`}}},
		{"merged meta counts, served or refused", all, 1, 10, []dispatchStep{
			{"MergedBlockMetaRequest 4", "meta counted | unanswered 1, paused"},
			{"answered", "- | unanswered 0, reading"}}},
		{"merged meta nobody serves is refused, counted until the refusal is written", plain, 1, 10, []dispatchStep{
			{"MergedBlockMetaRequest 4", `refuse RpcFailure "merged block meta requests are not supported here" counted | unanswered 1, paused`},
			{"answered", "- | unanswered 0, reading"}}},
		{"a response type is not a request", all, 0, 10, []dispatchStep{
			{"RpcResponse 1", "ignore | unanswered 0, reading"}}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runDispatchScenario(t, sc.served, sc.limit, sc.chunkLimit, sc.steps) })
	}
}
