//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options say what New builds.
type Options struct {
	// Hosts is the number of hosts (1 to 200).
	Hosts int
	// Impairable lists the hosts (indexes) whose link goes through a
	// userspace wire, so that Host.Impair can slow it down or make it
	// lossy. Other hosts have a plain veth link.
	Impairable []int
	// Seed seeds the wires' randomness (loss and jitter); 0 picks one from
	// the clock. The seed is logged.
	Seed uint64
	// Dir receives the processes' log files ("": a t.TempDir()).
	Dir string
}

// Net is a set of hosts on a private bridge; New makes one.
type Net struct {
	t      testing.TB
	names  names
	dir    string
	k      int // the subnet: 10.213.k.0/24
	seed   uint64
	hosts  []*Host
	bridge string // "" until created

	mu      sync.Mutex // guards the fields below
	procs   []*Proc
	nlogs   int
	nsMade  []string // namespaces created, for the teardown
	links   []string // root-side links created
	wires   []*wire
	closing bool

	closeOnce sync.Once
	closeErr  error
}

// New builds the hosts Options describe and registers their teardown with
// t.Cleanup. It skips t (or fails it, with EMBER_REQUIRE_NETNS=1) when
// namespaces are not available, and fails it if the net cannot be built.
func New(t testing.TB, opts Options) *Net {
	t.Helper()
	Require(t)
	if opts.Hosts < 1 || opts.Hosts > 200 {
		t.Fatalf("netns: Options.Hosts = %d, want 1 to 200", opts.Hosts)
	}
	for _, i := range opts.Impairable {
		if i < 0 || i >= opts.Hosts {
			t.Fatalf("netns: Options.Impairable names host %d of %d", i, opts.Hosts)
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	n := &Net{t: t, names: newNames(int(seq.Inc())), dir: dir, seed: seed}
	// Registered after TempDir's removal: runs before it, so the logs can
	// still be read.
	t.Cleanup(n.cleanup)
	if err := n.names.check(opts.Hosts); err != nil {
		t.Fatal(err)
	}
	if gone := sweepStale(); len(gone) > 0 {
		t.Logf("netns: removed what dead test processes left behind: %s", strings.Join(gone, " "))
	}
	if err := n.build(opts); err != nil {
		t.Fatalf("netns: building %d hosts: %v", opts.Hosts, err)
	}
	var b strings.Builder
	for _, h := range n.hosts {
		kind := "veth"
		if h.wire != nil {
			kind = "wire"
		}
		fmt.Fprintf(&b, " %s=%s(%s)", h.Name, h.IP, kind)
	}
	t.Logf("netns: bridge %s %s/24 (the test process: %s), wire seed %d, hosts:%s",
		n.bridge, n.subnet(), n.Gateway(), n.seed, b.String())
	return n
}

func (n *Net) subnet() string { return hostIP(n.k, 0) }

// Gateway is the bridge's address: where the test process itself is on
// the net (the source address of its connections to the hosts).
func (n *Net) Gateway() string { return hostIP(n.k, gatewayHost) }

// Host returns host i.
func (n *Net) Host(i int) *Host { return n.hosts[i] }

// Hosts returns every host, in order.
func (n *Net) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Dir is where the processes' logs go.
func (n *Net) Dir() string { return n.dir }

// Seed is the wires' random seed.
func (n *Net) Seed() uint64 { return n.seed }

// build creates the bridge (claiming the subnet) and the hosts.
func (n *Net) build(opts Options) error {
	br := n.names.bridge()
	err := withSubnetLock(func() error {
		used, err := usedSubnets()
		if err != nil {
			return err
		}
		if n.k, err = pickSubnet(used); err != nil {
			return err
		}
		if out, err := ip("link", "add", "name", br, "type", "bridge", "forward_delay", "0", "stp_state", "0"); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		n.bridge = br
		if out, err := ip("addr", "add", n.Gateway()+"/24", "dev", br); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if out, err := ip("link", "set", br, "up"); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	for i := range opts.Hosts {
		h := &Host{net: n, Index: i, Name: n.names.namespace(i), IP: hostIP(n.k, i+1), link: n.names.hostLink(i)}
		n.hosts = append(n.hosts, h)
		if err := n.addHost(h, slices.Contains(opts.Impairable, i)); err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
	}
	return nil
}

// addHost makes h's namespace and link, eth0 with h.IP inside, the other
// end on the bridge.
func (n *Net) addHost(h *Host, wired bool) error {
	run := func(args ...string) error {
		if out, err := ip(args...); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := run("netns", "add", h.Name); err != nil {
		return err
	}
	n.mu.Lock()
	n.nsMade = append(n.nsMade, h.Name)
	n.mu.Unlock()
	if err := run("-n", h.Name, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if wired {
		inside := n.names.tapInside(h.Index)
		w, err := newWire(inside, h.link, n.seed+uint64(h.Index)*0x9e3779b97f4a7c15)
		if err != nil {
			return err
		}
		h.wire = w
		n.mu.Lock()
		n.wires = append(n.wires, w)
		n.links = append(n.links, h.link)
		n.mu.Unlock()
		if err := run("link", "set", "dev", inside, "netns", h.Name); err != nil {
			return err
		}
		if err := run("-n", h.Name, "link", "set", "dev", inside, "name", "eth0"); err != nil {
			return err
		}
	} else {
		if err := run("link", "add", h.link, "type", "veth", "peer", "name", "eth0", "netns", h.Name); err != nil {
			return err
		}
		n.mu.Lock()
		n.links = append(n.links, h.link)
		n.mu.Unlock()
	}
	for _, args := range [][]string{
		{"-n", h.Name, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"-n", h.Name, "link", "set", "eth0", "up"},
		{"link", "set", h.link, "master", n.bridge},
		{"link", "set", h.link, "up"},
	} {
		if err := run(args...); err != nil {
			return err
		}
	}
	return nil
}

// cleanup is New's t.Cleanup: the teardown, and the processes' logs when
// the test failed.
func (n *Net) cleanup() {
	err := n.Close()
	if n.t.Failed() {
		n.mu.Lock()
		procs := append([]*Proc(nil), n.procs...)
		n.mu.Unlock()
		for _, p := range procs {
			n.t.Logf("==== %s on %s (pid %d, %s), log %s:\n%s", p.Name, p.Host.Name, p.Pid(), p.State(), p.LogPath, tail(p.Output(), 12000))
		}
	}
	if err != nil {
		n.t.Errorf("netns: teardown: %v", err)
	}
}

// Close tears the net down: it kills every process in its namespaces and
// waits for the ones it started, stops the wires, deletes the links, the
// bridge and the namespaces, and checks that none is left. It is
// idempotent and returns the first error.
func (n *Net) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.teardown() })
	return n.closeErr
}

func (n *Net) teardown() error {
	n.mu.Lock()
	n.closing = true
	procs := append([]*Proc(nil), n.procs...)
	nsMade := append([]string(nil), n.nsMade...)
	links := append([]string(nil), n.links...)
	wires := append([]*wire(nil), n.wires...)
	n.mu.Unlock()
	var errs []error

	// Processes: the groups we started, then anything else in the
	// namespaces (executors start groups of their own), until none is left.
	for _, p := range procs {
		p.signalGroup(sigKill)
	}
	left := poll(cmdTimeout, func() []string {
		var still []string
		for _, ns := range nsMade {
			killNamespace(ns)
			for _, pid := range namespacePids(ns) {
				still = append(still, fmt.Sprintf("%s:pid %d", ns, pid))
			}
		}
		return still
	})
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes still in the namespaces after SIGKILL: %s", strings.Join(left, " ")))
	}
	deadline := time.Now().Add(cmdTimeout)
	for _, p := range procs {
		if !p.waitDone(time.Until(deadline)) {
			errs = append(errs, fmt.Errorf("%s (pid %d) not reaped %v after SIGKILL", p.Name, p.Pid(), cmdTimeout))
		}
	}

	for _, w := range wires {
		w.close()
	}
	for _, l := range links {
		if out, err := ip("link", "del", l); err != nil && !strings.Contains(out, "Cannot find device") &&
			!strings.Contains(out, "does not exist") {
			errs = append(errs, fmt.Errorf("%w: %s", err, out))
		}
	}
	if n.bridge != "" {
		if out, err := ip("link", "del", n.bridge); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s", err, out))
		}
	}
	for _, ns := range nsMade {
		if out, err := ip("netns", "del", ns); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s", err, out))
		}
	}

	// Deleting a namespace is asynchronous in the kernel: wait until
	// nothing of ours is listed.
	left = poll(cmdTimeout, n.leftovers)
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, " ")))
	}
	return errors.Join(errs...)
}

// leftovers lists the namespaces and links of this net that still exist.
func (n *Net) leftovers() []string {
	var left []string
	for _, ns := range listNamespaces() {
		if strings.HasPrefix(ns, n.names.namespacePrefix()) {
			left = append(left, "namespace "+ns)
		}
	}
	for _, l := range listLinks() {
		if strings.HasPrefix(l, n.names.prefix()) && linkName.MatchString(l) {
			left = append(left, "link "+l)
		}
	}
	return left
}

// Leftovers lists what of the net still exists (namespaces, links): empty
// after Close.
func (n *Net) Leftovers() []string { return n.leftovers() }

// poll calls f until it returns nothing or limit passes, and returns its
// last result.
func poll(limit time.Duration, f func() []string) []string {
	deadline := time.Now().Add(limit)
	for {
		r := f()
		if len(r) == 0 || time.Now().After(deadline) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Host is one namespace of a Net.
type Host struct {
	net *Net
	// Index is the host's number in its net; Name its namespace; IP its
	// address (on eth0).
	Index int
	Name  string
	IP    string
	link  string // bridge-side end of its link
	wire  *wire  // nil for a veth link
}

func (h *Host) String() string { return fmt.Sprintf("host%d(%s)", h.Index, h.IP) }

// HostPort returns "IP:port".
func (h *Host) HostPort(port int) string { return fmt.Sprintf("%s:%d", h.IP, port) }

// Cut takes the host off the network: the bridge-side end of its link
// goes down, so nothing reaches it or leaves it (its processes and
// sockets live on).
func (h *Host) Cut() error { return h.setLink("down") }

// Heal puts the host back on the network after Cut.
func (h *Host) Heal() error { return h.setLink("up") }

func (h *Host) setLink(state string) error {
	if out, err := ip("link", "set", "dev", h.link, state); err != nil {
		return fmt.Errorf("netns: %s: %w: %s", h, err, out)
	}
	return nil
}

// Impair sets the impairment of the host's link (both directions); the
// zero Impairment restores a clean link. Only hosts listed in
// Options.Impairable have a wire.
func (h *Host) Impair(imp Impairment) error {
	if h.wire == nil {
		return fmt.Errorf("netns: %s has a plain veth link; list it in Options.Impairable", h)
	}
	return h.wire.set(imp)
}

// WireStats returns the counters of the host's wire (zero for a veth
// link).
func (h *Host) WireStats() WireStats {
	if h.wire == nil {
		return WireStats{}
	}
	return h.wire.stats()
}

// Exec runs argv in the host's namespace to completion (bounded by ctx:
// the process is killed when ctx ends) and returns its combined output.
func (h *Host) Exec(ctx context.Context, argv []string, opts ...StartOption) ([]byte, error) {
	o := startOpts{dir: h.net.dir}
	for _, opt := range opts {
		opt.apply(&o)
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name}, argv...)...)
	cmd.Env, cmd.Dir = o.env, o.dir
	cmd.SysProcAttr = childAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns: %s: %s: %w", h, strings.Join(argv, " "), err)
	}
	return out, nil
}

// logPath returns a new log file path for a process called name.
func (n *Net) logPath(h *Host, name string) string {
	n.mu.Lock()
	n.nlogs++
	i := n.nlogs
	n.mu.Unlock()
	clean := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf("%s%c%03d-h%d-%s.log", n.dir, os.PathSeparator, i, h.Index, clean)
}
