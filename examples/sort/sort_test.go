package sortex

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/ember-rpc/ember/deploy/app"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/shuffle"
)

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(7, 3, 100), Generate(7, 3, 100)
	if !bytes.Equal(a, b) || len(a) != 100*RecordSize {
		t.Fatal("not deterministic")
	}
	if bytes.Equal(a, Generate(7, 4, 100)) || bytes.Equal(a, Generate(8, 3, 100)) {
		t.Fatal("maps or seeds share data")
	}
}

func TestPartitionMonotonic(t *testing.T) {
	for _, reduces := range []int{1, 3, 16, 1000, 65536} {
		prev := 0
		for k := 0; k < 1<<16; k++ {
			key := []byte{byte(k >> 8), byte(k)}
			p := Partition(key, reduces)
			if p < prev || p >= reduces {
				t.Fatalf("reduces %d key %d: partition %d after %d", reduces, k, p, prev)
			}
			prev = p
		}
		if prev != reduces-1 {
			t.Fatalf("reduces %d: last partition %d", reduces, prev)
		}
	}
}

func TestPartitionSortMergeChecksum(t *testing.T) {
	const reduces = 5
	var inputs [][]byte
	var inSum uint64
	var n int64
	for m := int64(0); m < 4; m++ {
		recs := Generate(1, m, 1000+m*37)
		inSum += Checksum(recs)
		n += int64(len(recs) / RecordSize)
		inputs = append(inputs, PartitionAndSort(recs, reduces)...)
	}
	var outs []ReduceOutput
	for r := 0; r < reduces; r++ {
		var runs [][]byte
		for m := 0; m < 4; m++ {
			part := inputs[m*reduces+r]
			if !IsSorted(part) {
				t.Fatalf("map %d partition %d not sorted", m, r)
			}
			for off := 0; off < len(part); off += RecordSize {
				if Partition(part[off:], reduces) != r {
					t.Fatalf("record in the wrong partition")
				}
			}
			runs = append(runs, part)
		}
		outs = append(outs, reduceRuns(r, runs))
	}
	if err := Verify(outs, n, inSum); err != nil {
		t.Fatal(err)
	}
	// Tampering is caught.
	bad := append([]ReduceOutput(nil), outs...)
	bad[1].Checksum++
	if Verify(bad, n, inSum) == nil {
		t.Fatal("checksum mismatch not caught")
	}
	bad = append([]ReduceOutput(nil), outs...)
	bad[0], bad[1] = bad[1], bad[0]
	if Verify(bad, n, inSum) == nil {
		t.Fatal("global order not checked")
	}
	if Verify(outs, n+1, inSum) == nil {
		t.Fatal("count not checked")
	}
	if IsSorted(append(bytes.Clone(Generate(1, 0, 1)), make([]byte, RecordSize)...)) {
		t.Fatal("unsorted pair accepted")
	}
}

func TestMergeEdgeCases(t *testing.T) {
	if len(Merge(nil)) != 0 || len(Merge([][]byte{nil, {}})) != 0 {
		t.Fatal("empty merge")
	}
	one := PartitionAndSort(Generate(2, 0, 50), 1)[0]
	if !bytes.Equal(Merge([][]byte{one}), one) {
		t.Fatal("single run changed")
	}
}

// TestShuffleRoundTrip writes map outputs, registers them with an
// in-process shuffle service and fetches them back like a reducer.
func TestShuffleRoundTrip(t *testing.T) {
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	dirs := []string{t.TempDir(), t.TempDir()}
	if err := svc.RegisterExecutor("app-1", "1", shuffle.ExecutorShuffleInfo{LocalDirs: dirs, SubDirsPerLocalDir: SubDirs,
		ShuffleManager: ShuffleManager}); err != nil {
		t.Fatal(err)
	}
	const reduces = 3
	var statuses []MapStatus
	var sum uint64
	var n int64
	for m := int64(0); m < 3; m++ {
		st, err := writeMapOutput(context.Background(), dirs, MapInput{ShuffleID: 2, MapID: m, Records: 500, Seed: 9, Reduces: reduces})
		if err != nil {
			t.Fatal(err)
		}
		st.Host, st.Port, st.ExecID = "127.0.0.1", svc.Port(), "1"
		statuses = append(statuses, st)
		sum += st.Checksum
		n += st.Records
	}
	c, err := shuffle.NewClient(shuffle.ClientConfig{AppID: "app-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var outs []ReduceOutput
	for r := 0; r < reduces; r++ {
		runs, err := fetchRuns(context.Background(), c, ReduceInput{ShuffleID: 2, Reduce: r, Maps: statuses})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, reduceRuns(r, runs))
	}
	if err := Verify(outs, n, sum); err != nil {
		t.Fatal(err)
	}
}

func TestServicePort(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	if p := servicePort(0, nil); p != shuffle.DefaultPort {
		t.Fatalf("default %d", p)
	}
	if p := servicePort(9000, []DirPort{{Dir: wd + "x", Port: 1}}); p != 9000 {
		t.Fatalf("sibling dir matched: %d", p)
	}
	if p := servicePort(9000, []DirPort{{Dir: "/nonexistent", Port: 1}, {Dir: wd, Port: 2}}); p != 2 {
		t.Fatalf("rule not applied: %d", p)
	}
}

func TestRegistered(t *testing.T) {
	kinds := app.TaskKinds()
	for _, k := range []string{MapKind, ReduceKind} {
		found := false
		for _, x := range kinds {
			found = found || x == k
		}
		if !found {
			t.Fatalf("%s not registered: %v", k, kinds)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{TotalBytes: 10, Maps: 1, Reduces: 1}, {TotalBytes: 1000, Maps: 0, Reduces: 1},
		{TotalBytes: 1000, Maps: 1, Reduces: 1 << 17}} {
		if _, err := Run(context.Background(), nil, c); err == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
}

// TestRegisterWithoutServiceIsPermanent: a map task on a host where no
// shuffle service listens fails with an app.Permanent error naming the
// key that starts one, so the driver does not retry it.
func TestRegisterWithoutServiceIsPermanent(t *testing.T) {
	port := testutil.FreePort(t)
	conf := sparkconf.New().Set("spark.shuffle.registration.maxAttempts", "1")
	err := registerOnce(conf, "app-x", "0", "127.0.0.1", port, []string{t.TempDir()})
	if err == nil || !app.IsPermanent(err) || !strings.Contains(err.Error(), "spark.shuffle.service.enabled=true") ||
		!errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v (permanent %v)", err, app.IsPermanent(err))
	}
}
