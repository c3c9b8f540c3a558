//go:build linux

package recovery

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The ZooKeeper tests run a real standalone server: Debian's zookeeper
// package (libzookeeper-java), i.e. /usr/share/java/zookeeper.jar, whose
// manifest Class-Path names its dependencies, and a java. Without them
// the tests skip, or fail when EMBER_REQUIRE_ZOOKEEPER is set (CI).
// scripts/zookeeper.sh installs the package.
const (
	defaultZooKeeperJar = "/usr/share/java/zookeeper.jar"
	zooKeeperMain       = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// zkServer is a standalone ZooKeeper on a loopback port.
type zkServer struct {
	Addr string // 127.0.0.1:<port>

	java, classpath, cfg, logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// findZooKeeper returns java and the server jar, or what is missing.
func findZooKeeper() (java, jar string, missing []string) {
	java, err := exec.LookPath("java")
	if err != nil {
		if home := os.Getenv("JAVA_HOME"); home != "" {
			if _, err := os.Stat(filepath.Join(home, "bin", "java")); err == nil {
				java = filepath.Join(home, "bin", "java")
			}
		}
		if java == "" {
			missing = append(missing, "java (in PATH or $JAVA_HOME/bin)")
		}
	}
	jar = os.Getenv("EMBER_ZOOKEEPER_JAR")
	if jar == "" {
		jar = defaultZooKeeperJar
	}
	deps, err := manifestClassPath(jar)
	if err != nil {
		return java, jar, append(missing, fmt.Sprintf("%s (%v)", jar, err))
	}
	// The manifest also names jars only the CLI uses (jline, not a
	// dependency of the package); a standalone server needs these.
	for _, d := range deps {
		if !serverDependency[filepath.Base(d)] {
			continue
		}
		if _, err := os.Stat(d); err != nil {
			missing = append(missing, d+" (listed in the Class-Path of "+jar+")")
		}
	}
	return java, jar, missing
}

// serverDependency names the jars of the server jar's Class-Path that a
// standalone server cannot start without.
var serverDependency = map[string]bool{
	"zookeeper-jute.jar": true,
	"slf4j-api.jar":      true,
}

// manifestClassPath reads the Class-Path entries of a jar's manifest,
// resolved against the jar's directory.
func manifestClassPath(jar string) ([]string, error) {
	zr, err := zip.OpenReader(jar)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	f, err := zr.Open("META-INF/MANIFEST.MF")
	if err != nil {
		return nil, nil // no manifest: nothing more to check
	}
	defer f.Close()
	var attr strings.Builder
	inClassPath := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, " "): // continuation
			if inClassPath {
				attr.WriteString(line[1:])
			}
		case strings.HasPrefix(line, "Class-Path:"):
			inClassPath = true
			attr.WriteString(strings.TrimPrefix(line, "Class-Path:"))
		default:
			inClassPath = false
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, e := range strings.Fields(attr.String()) {
		e = strings.TrimPrefix(e, "file:")
		if !filepath.IsAbs(e) {
			e = filepath.Join(filepath.Dir(jar), e)
		}
		out = append(out, e)
	}
	return out, nil
}

// requireZooKeeper skips (or, with EMBER_REQUIRE_ZOOKEEPER set,
// fails) t when the server cannot be run, naming what is missing.
func requireZooKeeper(t *testing.T) (java, jar string) {
	t.Helper()
	java, jar, missing := findZooKeeper()
	if len(missing) == 0 {
		return java, jar
	}
	msg := "ZooKeeper tests need " + strings.Join(missing, ", ") +
		"; install Debian's zookeeper package (scripts/zookeeper.sh)"
	if os.Getenv("EMBER_REQUIRE_ZOOKEEPER") != "" {
		t.Fatal(msg + " [EMBER_REQUIRE_ZOOKEEPER is set]")
	}
	t.Skip(msg)
	return "", ""
}

// startZooKeeper starts a standalone server with its data in a t.TempDir
// and kills it (its whole process group) when t ends. It returns once the
// server serves requests.
func startZooKeeper(t *testing.T) *zkServer {
	t.Helper()
	java, jar := requireZooKeeper(t)
	dir := t.TempDir()
	s := &zkServer{
		java:      java,
		classpath: jar,
		cfg:       filepath.Join(dir, "zoo.cfg"),
		logPath:   filepath.Join(dir, "server.log"),
	}
	t.Cleanup(s.Kill) // after dir's removal was registered: runs before it
	var err error
	for range 3 { // another process may take the free port first
		var port int
		if port, err = freeLoopbackPort(); err != nil {
			t.Fatal(err)
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		cfg := strings.Join([]string{
			"tickTime=2000",
			"dataDir=" + filepath.Join(dir, "data"),
			fmt.Sprintf("clientPort=%d", port),
			"clientPortAddress=127.0.0.1",
			"admin.enableServer=false",
			"4lw.commands.whitelist=*",
			"forceSync=no",
			"",
		}, "\n")
		if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			return s
		}
		s.Kill()
	}
	t.Fatalf("ZooKeeper did not start: %v", err)
	return nil
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server and waits until it serves (or exits, or the
// wait limit passes).
func (s *zkServer) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(s.java,
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", s.classpath, zooKeeperMain, s.cfg)
	cmd.Stdout, cmd.Stderr = logf, logf // files: no copying goroutines
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(zkWaitLimit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.serving() {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited (%v): %s", cmd.ProcessState, s.logTail())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not serving on %s after %v: %s", s.Addr, zkWaitLimit, s.logTail())
		}
	}
}

// serving asks the server's srvr four-letter word whether it serves.
func (s *zkServer) serving() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return strings.Contains(string(b), "Mode: standalone")
}

func (s *zkServer) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// Kill kills the server's process group with SIGKILL and waits for the
// server to be gone. Idempotent.
func (s *zkServer) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = cmd.Process.Kill()
	}
	<-exited
}

// zkWaitLimit bounds every wait of these tests: it only turns a hang into
// a failure and never decides an outcome.
const zkWaitLimit = 60 * time.Second
