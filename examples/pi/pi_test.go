package pi

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/ember-rpc/ember/deploy/app"
)

func TestSampleTask(t *testing.T) {
	out, err := sample(context.Background(), app.TaskContext{}, Input(200000, 7))
	if err != nil || len(out) != 8 {
		t.Fatalf("%v, %v", out, err)
	}
	est := 4 * float64(binary.BigEndian.Uint64(out)) / 200000
	if math.Abs(est-math.Pi) > 0.05 {
		t.Fatalf("estimate %f", est)
	}
	again, _ := sample(context.Background(), app.TaskContext{}, Input(200000, 7))
	if string(again) != string(out) {
		t.Fatal("not deterministic for a seed")
	}
	if _, err := sample(context.Background(), app.TaskContext{}, []byte{1}); err == nil {
		t.Fatal("short input accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sample(ctx, app.TaskContext{}, Input(1<<20, 1)); err == nil {
		t.Fatal("cancelled task ran")
	}
}

func TestRegistered(t *testing.T) {
	for _, k := range app.TaskKinds() {
		if k == Kind {
			return
		}
	}
	t.Fatalf("%s not registered: %v", Kind, app.TaskKinds())
}

func TestRunRejectsBadSizes(t *testing.T) {
	if _, err := Run(context.Background(), nil, 0, 10); err == nil {
		t.Fatal("no error")
	}
}
