package javaser_test

import (
	"bytes"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
)

// Marshal, AppendMarshal, Unmarshal and ReadStream reuse pooled Encoders
// and Decoders: each stream is written and read as by a fresh one, after
// any earlier stream, including one that failed half way.
func TestPooledCodersForgetStreams(t *testing.T) {
	gs := loadGolden(t)
	var vals []any
	for _, g := range gs {
		if g.name == "write-aborted" {
			continue
		}
		v, err := javaser.NewDecoder().Unmarshal(g.data)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		vals = append(vals, v)
	}
	bad := append([]byte(nil), gs[0].data...)
	bad = bad[:len(bad)-1] // truncated
	for round := range 2 {
		for i, v := range vals {
			fresh := javaser.NewEncoder(nil)
			if err := fresh.WriteObject(v); err != nil {
				t.Fatal(err)
			}
			want := fresh.Bytes()
			// A failed write and a failed read leave nothing behind.
			if _, err := javaser.Marshal(struct{}{}); err == nil {
				t.Fatal("a Go struct written")
			}
			if _, err := javaser.Unmarshal(bad); err == nil {
				t.Fatal("a truncated stream read")
			}
			got, err := javaser.AppendMarshal([]byte("prefix"), v)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("round %d, stream %d: pooled write differs from a fresh encoder's (%v)", round, i, err)
			}
			back, err := javaser.Unmarshal(want)
			if err != nil {
				t.Fatalf("round %d, stream %d: %v", round, i, err)
			}
			if again, _ := javaser.Marshal(back); !bytes.Equal(again, want) {
				t.Fatalf("round %d, stream %d: pooled read does not write back the same", round, i)
			}
		}
	}
}
