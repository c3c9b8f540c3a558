//go:build !race

package rpcenv

import (
	"testing"
	"time"
)

// The allocation budgets of a remote ask and a remote send between two
// Ember envs, enforced without the race detector (which allocates on its
// own): scripts/test.sh runs the Alloc tests in a non-race pass. Both ends
// run in this process and both are counted: encoding the request, the
// transport both ways, the server's decoding, its inbox and endpoint, the
// reply's encoding, and the asker's decoding of it. A change that raises a
// budget must say why, or lower it back.

// remoteAskBudget is the most allocations one remote ask round trip of a
// 64-byte JSON message may cost, both envs together, per io mode. It was
// 23 before the pooled message buffers, ask calls and sonic decoders; it
// is 9 now: the decoded value and the copy of its JSON on each side,
// sonic's boxing of the value it encodes on each side, the transport's
// Responder, the remoteCallContext, and (most of the time) a writer
// goroutine's start; the budget leaves one for a second such start. The
// issue's ceiling is 12.
var remoteAskBudget = map[string]float64{"EPOLL": 10, "NIO": 10}

// remoteSendBudget is the most allocations one remote one-way send may
// cost, both envs together, per io mode: 9 before, 3 now (the decoded
// value, the copy of its JSON, sonic's boxing), plus one for a writer
// goroutine's start.
var remoteSendBudget = map[string]float64{"EPOLL": 4, "NIO": 4}

func TestAllocRemoteAsk(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		p := newRemotePair(t, mode)
		for range 200 { // warm pools, buffers and the intern table
			p.ask(t)
		}
		got := testing.AllocsPerRun(2000, func() { p.ask(t) })
		t.Logf("%s: %.2f allocations per remote ask (budget %.0f)", mode, got, remoteAskBudget[mode])
		if got > remoteAskBudget[mode] {
			t.Fatalf("%s: %.2f allocations per remote ask, budget %.0f", mode, got, remoteAskBudget[mode])
		}
	})
}

// remoteJavaAskBudget is remoteAskBudget for an ask in Java content (a
// 64-character string, as a JVM peer asks and answers): 40 before the
// pooled javaser coders and the single read of a reply, 12 to 13 now
// (a JavaConv per stream read or written, each String read, its Go
// string and the box of it, the Responder, the remoteCallContext, writer
// starts), plus one for a second writer start.
var remoteJavaAskBudget = map[string]float64{"EPOLL": 14, "NIO": 14}

func TestAllocRemoteAskJava(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		p := newRemotePair(t, mode)
		ref := p.javaRef()
		for range 200 {
			p.askJava(t, ref)
		}
		got := testing.AllocsPerRun(2000, func() { p.askJava(t, ref) })
		t.Logf("%s: %.2f allocations per remote ask in Java (budget %.0f)", mode, got, remoteJavaAskBudget[mode])
		if got > remoteJavaAskBudget[mode] {
			t.Fatalf("%s: %.2f allocations per remote ask in Java, budget %.0f", mode, got, remoteJavaAskBudget[mode])
		}
	})
}

func TestAllocRemoteSend(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		p := newRemotePair(t, mode)
		limit := time.NewTimer(waitLimit) // made once: a timer per run would count
		defer limit.Stop()
		for range 200 {
			p.send(t, limit)
		}
		got := testing.AllocsPerRun(2000, func() { p.send(t, limit) })
		t.Logf("%s: %.2f allocations per remote send (budget %.0f)", mode, got, remoteSendBudget[mode])
		if got > remoteSendBudget[mode] {
			t.Fatalf("%s: %.2f allocations per remote send, budget %.0f", mode, got, remoteSendBudget[mode])
		}
	})
}
