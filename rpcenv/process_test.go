package rpcenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// buildPeer compiles testdata/peer (an env in its own process) into a
// temporary directory.
func buildPeer(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "peer")
	cmd := exec.Command(goBin, "build", "-o", bin, "./testdata/peer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the peer: %v\n%s", err, out)
	}
	return bin
}

// peer is a running peer process.
type peer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	port   int
	exited bool
	stderr string
}

// startPeer runs the peer in mode and waits for its port.
func startPeer(t *testing.T, bin, mode string) *peer {
	t.Helper()
	errPath := filepath.Join(t.TempDir(), "stderr")
	errFile, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	p := &peer{cmd: exec.Command(bin, "-mode", mode), stderr: errPath}
	p.cmd.Stderr = errFile
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.exited {
			p.cmd.Process.Kill()
			p.wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(errPath)
			t.Logf("peer stderr:\n%s", b)
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	s := recv(t, line, "the peer's port")
	if _, err := fmt.Sscanf(s, "PORT %d", &p.port); err != nil {
		t.Fatalf("peer said %q: %v", s, err)
	}
	return p
}

func (p *peer) wait() error {
	err := p.cmd.Wait()
	p.exited = true
	return err
}

// Two envs in separate OS processes over loopback: lookup, asks, a ref
// sent across and used by the other process, from a server-mode and a
// client-mode env; once the peer is killed the next ask fails (promptly,
// not by timing out). The peer exits cleanly on stdin close and SIGTERM.
func TestSeparateProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a helper program")
	}
	bin := buildPeer(t)
	eachMode(t, func(t *testing.T, mode string) {
		p := startPeer(t, bin, mode)
		addr := NewAddress("127.0.0.1", p.port)
		srv := startEnv(t, envSpec{name: "local", mode: mode})
		cli := startEnv(t, client(mode))
		var refs []*Ref
		for _, e := range []*Env{srv, cli} {
			ref, err := e.SetupEndpointRef(addr, "echo")
			if err != nil {
				t.Fatalf("%s: lookup in the peer: %v", e.Name(), err)
			}
			refs = append(refs, ref)
			if v, err := Ask[pong](bigCtx(t), ref, ping{N: 41}); err != nil || v.N != 42 {
				t.Errorf("%s: ask: %v %v", e.Name(), v, err)
			}
			if v := askOK(t, ref, "héllo\x00"); v != "héllo\x00" {
				t.Errorf("%s: string ask: %q", e.Name(), v)
			}
			if _, err := ref.Ask(bigCtx(t), int64(1)); err == nil || !strings.Contains(err.Error(), "unexpected ask") {
				t.Errorf("%s: failure from the peer: %v", e.Name(), err)
			}
			rec := newRecorder(nil)
			back := setup(t, e, "back", rec)
			if err := ref.Send(ping{N: 5, From: back}); err != nil {
				t.Fatal(err)
			}
			rec.waitCount(t, "receive", 1)
			if got := rec.of("receive")[0].msg; got != (pong{N: 6}) {
				t.Errorf("%s: reply through the sent ref: %v", e.Name(), got)
			}
		}
		if _, err := srv.SetupEndpointRef(addr, "nope"); !errors.Is(err, ErrEndpointNotFound) {
			t.Errorf("unknown endpoint in the peer: %v", err)
		}

		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.wait()
		for _, ref := range refs {
			if v, err := ref.Ask(bigCtx(t), ping{N: 1}); err == nil || isTimeout(err) {
				t.Errorf("ask to a killed peer: %v %v, want a connection error", v, err)
			}
		}

		byStdin := startPeer(t, bin, mode)
		byStdin.stdin.Close()
		if err := byStdin.wait(); err != nil {
			t.Errorf("peer exit on stdin close: %v", err)
		}
		bySignal := startPeer(t, bin, mode)
		bySignal.cmd.Process.Signal(syscall.SIGTERM)
		if err := bySignal.wait(); err != nil {
			t.Errorf("peer exit on SIGTERM: %v", err)
		}
	})
}
