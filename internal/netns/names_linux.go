//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/atomic"
)

// Names of what a net creates. Each carries the creating process's pid and
// a per-process sequence number, so parallel test processes never collide
// and a later process can tell (pid gone) what a dead one left behind.
//
//	namespace   emb-<pid>-<seq>-h<i>
//	bridge      emb<pid36>n<seq36>b
//	host link   emb<pid36>n<seq36>h<i>   (bridge side: veth peer or TAP)
//	TAP (ns)    emb<pid36>n<seq36>t<i>   (until renamed eth0 in the namespace)
//
// Interface names have at most 15 bytes: 3 + 5 (a pid below 36^5) + 1 + 2
// (a sequence below 36^2) + 1 + 3 (a host index below 1000) = 15.
type names struct {
	pid, seq int
}

// seq numbers the nets of this process; 0 is the availability probe's.
var seq atomic.Int64

func newNames(n int) names { return names{pid: os.Getpid(), seq: n} }

func (n names) prefix() string {
	return "emb" + strconv.FormatInt(int64(n.pid), 36) + "n" + strconv.FormatInt(int64(n.seq), 36)
}

func (n names) bridge() string          { return n.prefix() + "b" }
func (n names) hostLink(i int) string   { return n.prefix() + "h" + strconv.Itoa(i) }
func (n names) tapInside(i int) string  { return n.prefix() + "t" + strconv.Itoa(i) }
func (n names) namespace(i int) string  { return fmt.Sprintf("emb-%d-%d-h%d", n.pid, n.seq, i) }
func (n names) namespacePrefix() string { return fmt.Sprintf("emb-%d-%d-", n.pid, n.seq) }

func (n names) check(hosts int) error {
	if len(n.hostLink(hosts-1)) > 15 {
		return fmt.Errorf("netns: interface name %q is longer than 15 bytes", n.hostLink(hosts-1))
	}
	return nil
}

var (
	linkName = regexp.MustCompile(`^emb([0-9a-z]+)n[0-9a-z]+(b|[ht][0-9]+)$`)
	nsName   = regexp.MustCompile(`^emb-([0-9]+)-[0-9]+-h[0-9]+$`)
)

// pidAlive reports whether a process with pid exists (it may be another
// process that reused the pid: then its leftovers stay, which is safe).
func pidAlive(pid int) bool {
	return pid > 0 && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// sweepStale removes the namespaces, bridges and links that a process now
// dead left behind (it was killed before its cleanup ran), and returns
// their names.
func sweepStale() []string {
	var removed []string
	if out, err := ip("netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			m := nsName.FindStringSubmatch(f[0])
			if m == nil {
				continue
			}
			if pid, err := strconv.Atoi(m[1]); err != nil || pidAlive(pid) {
				continue
			}
			killNamespace(f[0])
			if _, err := ip("netns", "del", f[0]); err == nil {
				removed = append(removed, f[0])
			}
		}
	}
	for _, l := range listLinks() {
		m := linkName.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if pid, err := strconv.ParseInt(m[1], 36, 64); err != nil || pidAlive(int(pid)) {
			continue
		}
		if _, err := ip("link", "del", l); err == nil {
			removed = append(removed, l)
		}
	}
	return removed
}

// listLinks returns the names of the interfaces of the root namespace.
func listLinks() []string {
	out, err := ip("-o", "link", "show")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "13: name@if2: <BROADCAST,...> ..."
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if i := strings.IndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		names = append(names, name)
	}
	return names
}

// listNamespaces returns the names of the named namespaces.
func listNamespaces() []string {
	out, err := ip("netns", "list")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// namespacePids lists the processes in namespace ns.
func namespacePids(ns string) []int {
	out, err := ip("netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killNamespace sends SIGKILL to every process in ns.
func killNamespace(ns string) {
	for _, pid := range namespacePids(ns) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
