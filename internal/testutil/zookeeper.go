package testutil

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The ZooKeeper helpers run a real standalone server: Debian's zookeeper
// package (libzookeeper-java), i.e. /usr/share/java/zookeeper.jar, whose
// manifest Class-Path names its dependencies, and a java. Without them a
// test that asks for a server skips, or fails when EMBER_REQUIRE_ZOOKEEPER
// is set (CI). scripts/zookeeper.sh installs the package.

// DefaultZooKeeperJar is where Debian's zookeeper package puts the server;
// the environment variable EMBER_ZOOKEEPER_JAR overrides it.
const DefaultZooKeeperJar = "/usr/share/java/zookeeper.jar"

const zooKeeperMain = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

// ZooKeeperOptions tune a server started by StartZooKeeperServer. Zero
// values keep ZooKeeper's defaults.
type ZooKeeperOptions struct {
	// TickTime is ZooKeeper's basic time unit (default 2s). The session
	// timeouts a client may get are bounded by 2 and 20 ticks unless
	// MinSessionTimeout / MaxSessionTimeout say otherwise.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout
	// the server grants. A small MaxSessionTimeout makes the ephemeral
	// nodes of a killed client (a leader latch) go away sooner.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
}

// ZooKeeper is a standalone ZooKeeper server on a loopback port, started
// by StartZooKeeperServer and killed when its test ends.
type ZooKeeper struct {
	// Addr is the connect string: 127.0.0.1:<port>.
	Addr string

	java, classpath, cfg, logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// FindZooKeeper returns java and the server jar, and what is missing to
// run a server (nothing when it can run).
func FindZooKeeper() (java, jar string, missing []string) {
	java, err := exec.LookPath("java")
	if err != nil {
		java = ""
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
		jar = DefaultZooKeeperJar
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

// ZooKeeperRequired reports whether EMBER_REQUIRE_ZOOKEEPER asks that a
// missing ZooKeeper fail the tests instead of skipping them (any value but
// "", "0" and "false").
func ZooKeeperRequired() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("EMBER_REQUIRE_ZOOKEEPER"))) {
	case "", "0", "false":
		return false
	}
	return true
}

// RequireZooKeeper skips t (or fails it, with EMBER_REQUIRE_ZOOKEEPER=1)
// when a ZooKeeper server cannot be run here, naming what is missing. It
// returns java and the server jar.
func RequireZooKeeper(t testing.TB) (java, jar string) {
	t.Helper()
	java, jar, missing := FindZooKeeper()
	if len(missing) == 0 {
		return java, jar
	}
	msg := "this test needs a real ZooKeeper server: missing " + strings.Join(missing, ", ") +
		"; install Debian's zookeeper package (scripts/zookeeper.sh)"
	if ZooKeeperRequired() {
		t.Fatal(msg + " [EMBER_REQUIRE_ZOOKEEPER is set]")
	}
	t.Skip(msg)
	return "", ""
}

// StartZooKeeper starts a standalone ZooKeeper server with ZooKeeper's
// default settings on a free loopback port, its data in a t.TempDir, and
// returns its connect string (127.0.0.1:<port>) once it serves requests.
// The server (its whole process group) is killed when t ends. Without java
// or the server jar the test is skipped with a message saying what is
// missing, or failed when EMBER_REQUIRE_ZOOKEEPER=1.
func StartZooKeeper(t testing.TB) (connectString string) {
	t.Helper()
	return StartZooKeeperServer(t, ZooKeeperOptions{}).Addr
}

// StartZooKeeperServer is StartZooKeeper with options; the returned server
// can also be killed early (Kill) and its log read (LogTail).
func StartZooKeeperServer(t testing.TB, opts ZooKeeperOptions) *ZooKeeper {
	t.Helper()
	java, jar := RequireZooKeeper(t)
	dir := t.TempDir()
	s := &ZooKeeper{
		java:      java,
		classpath: jar,
		cfg:       filepath.Join(dir, "zoo.cfg"),
		logPath:   filepath.Join(dir, "server.log"),
	}
	t.Cleanup(s.Kill) // registered after dir's removal: runs before it
	var err error
	for range 3 { // another process may take the free port first
		port := FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		lines := []string{
			"dataDir=" + filepath.Join(dir, "data"),
			fmt.Sprintf("clientPort=%d", port),
			"clientPortAddress=127.0.0.1",
			"admin.enableServer=false",
			"4lw.commands.whitelist=*",
			"forceSync=no",
		}
		tick := opts.TickTime
		if tick <= 0 {
			tick = 2 * time.Second
		}
		lines = append(lines, fmt.Sprintf("tickTime=%d", tick.Milliseconds()))
		if opts.MinSessionTimeout > 0 {
			lines = append(lines, fmt.Sprintf("minSessionTimeout=%d", opts.MinSessionTimeout.Milliseconds()))
		}
		if opts.MaxSessionTimeout > 0 {
			lines = append(lines, fmt.Sprintf("maxSessionTimeout=%d", opts.MaxSessionTimeout.Milliseconds()))
		}
		if err := os.WriteFile(s.cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
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

// start runs the server and waits until it serves (or exits, or the wait
// limit passes).
func (s *ZooKeeper) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(s.java,
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", s.classpath, zooKeeperMain, s.cfg)
	cmd.Stdout, cmd.Stderr = logf, logf // files: no copying goroutines
	cmd.SysProcAttr = childProcAttr()
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

	deadline := time.Now().Add(WaitLimit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.Serving() {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited (%v): %s", cmd.ProcessState, s.LogTail())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not serving on %s after %v: %s", s.Addr, WaitLimit, s.LogTail())
		}
	}
}

// Serving asks the server's srvr four-letter word whether it serves.
func (s *ZooKeeper) Serving() bool {
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

// LogTail returns the end of the server's log.
func (s *ZooKeeper) LogTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// Kill kills the server's process group with SIGKILL and waits for the
// server to be gone. Idempotent.
func (s *ZooKeeper) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	killGroup(cmd.Process)
	<-exited
}
