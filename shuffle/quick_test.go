package shuffle

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/prometheus/client_golang/prometheus"
)

func partitionBytes(m, r int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("m%d-r%d;", m, r)), 100+37*r+m)
}

func TestQuickServiceFetch(t *testing.T) {
	for _, mode := range []string{"EPOLL", "NIO"} {
		t.Run(mode, func(t *testing.T) {
			conf := sparkconf.New().Set("spark.shuffle.io.mode", mode)
			dirs := []string{t.TempDir(), t.TempDir()}
			const maps, reduces = 4, 8
			for m := 0; m < maps; m++ {
				w, err := NewMapOutputWriter(dirs, 64, 0, int64(m))
				if err != nil {
					t.Fatal(err)
				}
				for r := 0; r < reduces; r++ {
					if err := w.WritePartition(bytes.NewReader(partitionBytes(m, r))); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := w.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			svc, err := NewService(ServiceConfig{Conf: conf, Host: "127.0.0.1", Port: 0, DBDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			cl, err := NewClient(ClientConfig{Conf: conf, AppID: "app-1"})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			info := ExecutorShuffleInfo{LocalDirs: dirs, SubDirsPerLocalDir: 64, ShuffleManager: SortShuffleManager}
			if err := cl.RegisterWithShuffleServer("127.0.0.1", svc.Port(), "exec-1", info); err != nil {
				t.Fatal(err)
			}
			var req FetchRequest
			req.Host, req.Port, req.ExecID = "127.0.0.1", svc.Port(), "exec-1"
			for m := 0; m < maps; m++ {
				for r := 0; r < reduces; r++ {
					req.Blocks = append(req.Blocks, BlockInfo{ID: ShuffleBlockID(0, int64(m), int32(r)), Size: int64(len(partitionBytes(m, r)))})
				}
			}
			var mu sync.Mutex
			got := map[string][]byte{}
			err = cl.FetchAll(context.Background(), []FetchRequest{req}, func(id string, data codec.ManagedBuffer) error {
				b, _ := data.Bytes()
				mu.Lock()
				got[id] = bytes.Clone(b)
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for m := 0; m < maps; m++ {
				for r := 0; r < reduces; r++ {
					if !bytes.Equal(got[ShuffleBlockID(0, int64(m), int32(r))], partitionBytes(m, r)) {
						t.Fatalf("block %d/%d mismatch", m, r)
					}
				}
			}
			if svc.Metrics().BlocksServed.Load() != maps*reduces {
				t.Fatalf("served %d blocks", svc.Metrics().BlocksServed.Load())
			}
		})
	}
}

func TestServiceMetricsRegistered(t *testing.T) {
	svc, err := NewService(ServiceConfig{Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.RegisterExecutor("app-1", "0", ExecutorShuffleInfo{LocalDirs: []string{t.TempDir()}, SubDirsPerLocalDir: 64}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := svc.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			got[mf.GetName()] = m.GetGauge().GetValue()
		} else {
			got[mf.GetName()] = m.GetCounter().GetValue()
		}
	}
	if got["ember_shuffle_registered_executors"] != 1 {
		t.Fatalf("metrics %v: want one registered executor", got)
	}
	if _, ok := got["ember_shuffle_bytes_served_total"]; !ok {
		t.Fatalf("metrics %v: no bytes served counter", got)
	}
}
