package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/deploy/master"
	"github.com/ember-rpc/ember/deploy/worker"
	"github.com/ember-rpc/ember/shuffle"
)

// shuffle-rss: a shuffle of maps × reducers blocks laid out on disk as
// Spark's sort shuffle writes it, served by (a) a standalone shuffle
// service and (b) a worker with its embedded shuffle service
// (spark.shuffle.service.enabled) registered with a master, each in a
// process of its own, while every reducer fetches its blocks at once
// (one shuffle.Client, so one connection, per reducer), -rounds times.
// The figure is the serving process's VmHWM.

const (
	shuffleID      = 0
	shuffleAppID   = "scale-app"
	shuffleExecID  = "exec-1"
	shuffleSubDirs = 64 // spark.diskStore.subDirectories' default
)

// shuffleLayout is a shuffle's map outputs on disk.
type shuffleLayout struct {
	dirs                  []string // the executor's local dirs
	maps, reducers, block int
}

func (l *shuffleLayout) bytes() int64 { return int64(l.maps) * int64(l.reducers) * int64(l.block) }

// requests returns each reducer's FetchAll request to a service on port:
// its block of every map.
func (l *shuffleLayout) requests(port int) [][]shuffle.FetchRequest {
	reqs := make([][]shuffle.FetchRequest, l.reducers)
	for r := range reqs {
		blocks := make([]shuffle.BlockInfo, l.maps)
		for m := range blocks {
			blocks[m] = shuffle.BlockInfo{ID: shuffle.ShuffleBlockID(shuffleID, int64(m), int32(r)), Size: int64(l.block)}
		}
		reqs[r] = []shuffle.FetchRequest{{Host: "127.0.0.1", Port: port, ExecID: shuffleExecID, Blocks: blocks}}
	}
	return reqs
}

// writeLayout writes maps map outputs of reducers partitions of block
// bytes each with shuffle.MapOutputWriter under two local dirs in dir,
// then reads the data files once so they are in the page cache.
func writeLayout(dir string, maps, reducers, block int) (*shuffleLayout, error) {
	l := &shuffleLayout{dirs: []string{filepath.Join(dir, "local0"), filepath.Join(dir, "local1")},
		maps: maps, reducers: reducers, block: block}
	data := make([]byte, block)
	rnd := rand.New(rand.NewPCG(uint64(block), uint64(maps)))
	for i := 0; i+8 <= len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rnd.Uint64())
	}
	buf := make([]byte, 1<<20)
	for m := range maps {
		w, err := shuffle.NewMapOutputWriter(l.dirs, shuffleSubDirs, shuffleID, int64(m))
		if err != nil {
			return nil, err
		}
		for r := range reducers {
			binary.BigEndian.PutUint64(data, uint64(m)<<32|uint64(r)) // no two blocks alike
			if err := w.WritePartition(bytes.NewReader(data)); err != nil {
				w.Abort()
				return nil, err
			}
		}
		if _, err := w.Commit(); err != nil {
			return nil, err
		}
		path := shuffle.FilePath(l.dirs, shuffleSubDirs, shuffle.DataFileName(shuffleID, int64(m)))
		if err := readFile(path, buf); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func readFile(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, f, buf)
	return err
}

// ---- self roles for the daemons ----

// daemonArgs are the arguments of the shuffle-service, master and worker
// roles (the library calls `ember shuffle-service|master|worker` make).
type daemonArgs struct {
	Mode        string `json:"mode"`
	Port        int    `json:"port"`
	DBDir       string `json:"dbDir,omitempty"`
	MasterURL   string `json:"masterURL,omitempty"`
	ShufflePort int    `json:"shufflePort,omitempty"`
	WorkDir     string `json:"workDir,omitempty"`
}

func init() {
	roles["shuffle-service"] = startShuffleRole
	roles["master"] = startMasterRole
	roles["worker"] = startWorkerRole
}

func startShuffleRole(raw json.RawMessage) (*role, error) {
	var a daemonArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: rpcConf(a.Mode), Host: "127.0.0.1", Port: a.Port, DBDir: a.DBDir, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &role{info: map[string]any{"port": svc.Port()}, close: svc.Close}, nil
}

func startMasterRole(raw json.RawMessage) (*role, error) {
	var a daemonArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	if _, err := raiseNoFile(1 << 16); err != nil {
		return nil, err
	}
	m, err := master.Start(master.Options{Host: "127.0.0.1", Port: a.Port, Conf: rpcConf(a.Mode), Logger: logger})
	if err != nil {
		return nil, err
	}
	// An ask to the master's endpoint is answered after its OnStart ran:
	// it orders OnStart's wg.Add before Shutdown's wg.Wait, which the race
	// detector otherwise reports (Master.Shutdown can race OnStart).
	if _, err := m.MasterState(); err != nil {
		m.Shutdown()
		return nil, err
	}
	return &role{info: map[string]any{"port": m.Address().Port}, close: func() error { m.Shutdown(); return nil }}, nil
}

func startWorkerRole(raw json.RawMessage) (*role, error) {
	var a daemonArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	conf := rpcConf(a.Mode).
		Set("spark.shuffle.service.enabled", "true").
		Set("spark.shuffle.service.port", strconv.Itoa(a.ShufflePort))
	w, err := worker.Start(worker.Options{Host: "127.0.0.1", Port: a.Port, WebUIPort: 0, Cores: 2, MemoryMB: 4096,
		WorkDir: a.WorkDir, MasterURLs: []string{a.MasterURL}, Conf: conf, Logger: logger, OnExit: func(int) {}})
	if err != nil {
		return nil, err
	}
	return &role{info: map[string]any{"port": w.Address().Port}, close: func() error { w.Shutdown(); return nil }}, nil
}

// startDaemon starts one of the daemons: the ember binary when -ember is
// set (args are its command line), else this program in role (with a).
func startDaemon(o *options, name, roleName string, a daemonArgs, args ...string) (*child, error) {
	if o.ember != "" {
		return startExternal(name, o.ember, args...)
	}
	return startSelf(name, roleName, a)
}

// ---- the measurement ----

// shuffleResult is one serving process in one mode.
type shuffleResult struct {
	what, mode     string
	idle, after    procStatus
	sampledMax     int64
	took           time.Duration
	cpu            time.Duration
	blocks, rounds int
}

func runShuffleRSS(o *options) error {
	dir, err := os.MkdirTemp("", "ember-scale-shuffle-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := writeLayout(dir, o.maps, o.reducers, o.block)
	if err != nil {
		return err
	}
	var results []shuffleResult
	for _, mode := range o.modes {
		r, err := shuffleStandalone(o, string(mode), dir, l)
		if err != nil {
			return fmt.Errorf("%s: standalone service: %w", mode, err)
		}
		results = append(results, r)
		r, err = shuffleWorker(o, string(mode), dir, l)
		if err != nil {
			return fmt.Errorf("%s: worker: %w", mode, err)
		}
		results = append(results, r)
	}
	how := "this program, in child processes, through the library calls ember makes"
	if o.ember != "" {
		how = "`" + o.ember + " shuffle-service|master|worker`"
	}
	fmt.Printf("%d maps × %d reducers × %s blocks (%s) on disk (page-cached); %d reducers fetch at once, each with a shuffle.Client of its own (one connection each), %d rounds. Daemons: %s.\n\n",
		l.maps, l.reducers, sizeName(l.block), sizeName(int(l.bytes())), l.reducers, o.rounds, how)
	fmt.Println("| process | mode | VmRSS idle (MiB) | **VmHWM** (MiB) | VmHWM − idle (MiB) | VmRSS after (MiB) | sampled max VmRSS | MB/s | CPU s |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		mbps := float64(l.bytes()) * float64(r.rounds) / 1e6 / r.took.Seconds()
		fmt.Printf("| %s | %s | %s | **%s** | %s | %s | %s | %.0f | %.2f |\n", r.what, r.mode, mib(r.idle.RSS), mib(r.after.HWM),
			mib(r.after.HWM-r.idle.RSS), mib(r.after.RSS), mib(r.sampledMax), mbps, r.cpu.Seconds())
	}
	return nil
}

func shuffleStandalone(o *options, mode, dir string, l *shuffleLayout) (r shuffleResult, err error) {
	port, err := freePort()
	if err != nil {
		return r, err
	}
	db := filepath.Join(dir, "service-db-"+mode)
	svc, err := startDaemon(o, "shuffle service "+mode, "shuffle-service",
		daemonArgs{Mode: mode, Port: port, DBDir: db},
		"shuffle-service", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--db-dir", db,
		"--conf", "spark.shuffle.io.mode="+mode)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, svc.stop()) }()
	r, err = shuffleServe(o, svc, mode, port, l)
	r.what = "shuffle service"
	return r, err
}

func shuffleWorker(o *options, mode, dir string, l *shuffleLayout) (r shuffleResult, err error) {
	var mport, mui, wui, sport int
	for _, p := range []*int{&mport, &mui, &wui, &sport} {
		if *p, err = freePort(); err != nil {
			return r, err
		}
	}
	m, err := startDaemon(o, "master "+mode, "master", daemonArgs{Mode: mode, Port: mport},
		"master", "--host", "127.0.0.1", "--port", strconv.Itoa(mport), "--webui-port", strconv.Itoa(mui),
		"--conf", "spark.rpc.io.mode="+mode)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, m.stop()) }()
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", mport), childLimit, m.dead); err != nil {
		return r, err
	}
	workDir := filepath.Join(dir, "work-"+mode)
	masterURL := fmt.Sprintf("spark://127.0.0.1:%d", mport)
	w, err := startDaemon(o, "worker "+mode, "worker",
		daemonArgs{Mode: mode, MasterURL: masterURL, ShufflePort: sport, WorkDir: workDir},
		"worker", "--host", "127.0.0.1", "--port", "0", "--webui-port", strconv.Itoa(wui), "--work-dir", workDir,
		"--cores", "2", "--memory", "4G",
		"--conf", "spark.rpc.io.mode="+mode, "--conf", "spark.shuffle.io.mode="+mode,
		"--conf", "spark.shuffle.service.enabled=true", "--conf", "spark.shuffle.service.port="+strconv.Itoa(sport),
		masterURL)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, w.stop()) }()
	r, err = shuffleServe(o, w, mode, sport, l)
	r.what = "worker + shuffle service"
	return r, err
}

// shuffleServe waits for the service on port in process p, registers the
// executor, and runs every reducer at once, o.rounds times.
func shuffleServe(o *options, p *child, mode string, port int, l *shuffleLayout) (r shuffleResult, err error) {
	r.mode, r.rounds = mode, o.rounds
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", port), childLimit, p.dead); err != nil {
		return r, err
	}
	time.Sleep(500 * time.Millisecond) // let start-up settle
	if r.idle, err = p.status(); err != nil {
		return r, err
	}
	conf := rpcConf(mode)
	clients := make([]*shuffle.Client, l.reducers)
	defer func() {
		for _, c := range clients {
			if c != nil {
				err = errors.Join(err, c.Close())
			}
		}
	}()
	tmp, err := os.MkdirTemp("", "ember-scale-fetch-*")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	for i := range clients {
		if clients[i], err = shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: shuffleAppID, TmpDir: tmp, Logger: logger}); err != nil {
			return r, err
		}
	}
	info := shuffle.ExecutorShuffleInfo{LocalDirs: l.dirs, SubDirsPerLocalDir: shuffleSubDirs, ShuffleManager: shuffle.SortShuffleManager}
	if err := clients[0].RegisterWithShuffleServer("127.0.0.1", port, shuffleExecID, info); err != nil {
		return r, err
	}
	reqs := l.requests(port)
	var blocks atomic.Int64
	onBlock := func(_ string, data codec.ManagedBuffer) error {
		if data.Size() != int64(l.block) {
			return errLength
		}
		blocks.Add(1)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cpu0, err := p.cpu()
	if err != nil {
		return r, err
	}
	sampler := sampleRSS(p.pid(), o.rssEvery)
	t0 := time.Now()
	err = forEach(l.reducers, l.reducers, func(i int) error {
		for range o.rounds {
			if err := clients[i].FetchAll(ctx, reqs[i], onBlock); err != nil {
				return err
			}
		}
		return nil
	})
	r.took = time.Since(t0)
	r.sampledMax = sampler.Stop()
	if err != nil {
		return r, err
	}
	if got, want := blocks.Load(), int64(l.maps*l.reducers*o.rounds); got != want {
		return r, fmt.Errorf("fetched %d blocks, want %d", got, want)
	}
	r.blocks = int(blocks.Load())
	cpu1, err := p.cpu()
	if err != nil {
		return r, err
	}
	r.cpu = cpu1 - cpu0
	r.after, err = p.status()
	return r, err
}
