package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
	"github.com/ember-rpc/ember/shuffle"
)

// Ember's shuffle service as a process of its own (`ember shuffle-service`,
// built from ./cmd/ember), so that its resident memory is measured the way
// the Spark JVM's is: BenchmarkShuffleMatrix/essproc-<EPOLL|NIO>/... reads
// the layout with Ember's client in that io mode from a service process in
// the same mode, and reports the process's peak-RSS-MiB and RSS-MiB
// (/proc/<pid>/status VmHWM, VmRSS) next to spark-ess-<mode>'s.

const essProcPrefix = "essproc-"

// emberBinary is the ember command built once per test process.
var emberBinary struct {
	once sync.Once
	path string
	err  error
}

// buildEmber builds ./cmd/ember into a temporary directory, once per
// process; TestMain removes it (removeEmberBinary).
func buildEmber() (string, error) {
	emberBinary.once.Do(func() {
		root, err := testutil.ProjectRoot()
		if err != nil {
			emberBinary.err = err
			return
		}
		dir, err := os.MkdirTemp("", "ember-bench-bin-*")
		if err != nil {
			emberBinary.err = err
			return
		}
		path := filepath.Join(dir, "ember")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/ember")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			emberBinary.err = fmt.Errorf("go build ./cmd/ember: %v\n%s", err, out)
			return
		}
		emberBinary.path = path
	})
	return emberBinary.path, emberBinary.err
}

// removeEmberBinary removes the binary buildEmber made, if any.
func removeEmberBinary() {
	if emberBinary.path != "" {
		os.RemoveAll(filepath.Dir(emberBinary.path))
	}
}

// emberESS is one running `ember shuffle-service`.
type emberESS struct {
	cmd  *exec.Cmd
	port int
	done chan struct{} // closed when stdout is drained
}

// startEmberESS starts a shuffle service process in mode on 127.0.0.1 and
// an ephemeral port; b.Cleanup stops it.
func startEmberESS(b *testing.B, mode netpoll.IOMode) *emberESS {
	b.Helper()
	bin, err := buildEmber()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "shuffle-service", "-host", "127.0.0.1", "-port", "0",
		"-db-dir", b.TempDir(), "-conf", "spark.shuffle.io.mode="+string(mode))
	cmd.Env = append(os.Environ(), "SPARK_CONF_DIR="+b.TempDir()) // no spark-defaults.conf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logs := &testutil.LogBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	e := &emberESS{cmd: cmd, done: make(chan struct{})}
	ports := make(chan int, 1)
	go func() {
		defer close(e.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "shuffle service listening on "); ok {
				if i := strings.LastIndexByte(rest, ':'); i >= 0 {
					if p, err := strconv.Atoi(rest[i+1:]); err == nil {
						ports <- p
					}
				}
			}
		}
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-e.done
		}
		_ = cmd.Wait()
	})
	select {
	case e.port = <-ports:
	case <-e.done:
		b.Fatalf("ember shuffle-service exited before listening:\n%s", tail(logs.String(), 3000))
	case <-time.After(time.Minute):
		b.Fatalf("ember shuffle-service did not listen within a minute:\n%s", tail(logs.String(), 3000))
	}
	return e
}

// runEmberESSProc is BenchmarkShuffleMatrix/essproc-<mode>/...: what
// runShuffleRead measures, with the service in a process of its own.
func runEmberESSProc(b *testing.B, mode netpoll.IOMode, s shuffleShape) {
	lay := layoutFor(b, s)
	svc := startEmberESS(b, mode)
	conf := sparkconf.New().Set("spark.shuffle.io.mode", string(mode))
	cl, err := shuffle.NewClient(shuffle.ClientConfig{Conf: conf, AppID: shuffleAppID, TmpDir: b.TempDir(), Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	info := shuffle.ExecutorShuffleInfo{LocalDirs: lay.dirs, SubDirsPerLocalDir: shuffleSubDirs, ShuffleManager: shuffle.SortShuffleManager}
	if err := cl.RegisterWithShuffleServer("127.0.0.1", svc.port, shuffleExecID, info); err != nil {
		b.Fatal(err)
	}
	reqs := shuffleRequests(s, svc.port)
	var blocks atomic.Int64
	onBlock := func(_ string, data codec.ManagedBuffer) error {
		if data.Size() != int64(s.block) {
			return errBlockLength
		}
		blocks.Add(1)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := cl.FetchAll(ctx, reqs[0], onBlock); err != nil { // warm up, as runShuffleRead
		b.Fatal(err)
	}
	blocks.Store(0)
	wd := startWatchdog(b, func() {
		cancel()
		cl.Close()
	})

	b.SetBytes(s.bytes())
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if err = readShuffle(ctx, cl, reqs, onBlock); err != nil {
			break
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	wd.check(b, err)
	if got, want := blocks.Load(), int64(b.N)*int64(s.blocks()); got != want {
		b.Fatalf("read %d blocks, want %d", got, want)
	}
	reportShuffle(b, s, elapsed)
	peak, cur, err := procRSS(svc.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(cur)/(1<<20), "RSS-MiB")
}
