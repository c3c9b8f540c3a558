//go:build linux

package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// cmdTimeout bounds every ip command (a loaded machine tearing down
// namespaces can be slow; none takes this long when healthy).
const cmdTimeout = 30 * time.Second

var (
	availOnce   sync.Once
	availOK     bool
	availReason string
)

// Available reports whether this process can build hosts here, and if not,
// why: it needs root, iproute2's ip, and a kernel that lets it add a
// namespace, a bridge and a veth pair (it tries, once per process, and
// removes what it made).
func Available() (ok bool, reason string) {
	availOnce.Do(func() { availOK, availReason = probe() })
	return availOK, availReason
}

// Required reports whether EMBER_REQUIRE_NETNS asks that missing
// namespaces fail the tests instead of skipping them.
func Required() bool { return requiredFromEnv() }

// Require skips t when Available is false (naming what is missing), or
// fails it when EMBER_REQUIRE_NETNS is set.
func Require(t testing.TB) {
	t.Helper()
	ok, reason := Available()
	if ok {
		return
	}
	if Required() {
		t.Fatal("netns: " + reason + " [" + RequireEnv + " is set]")
	}
	t.Skip("netns: " + reason + " (scripts/netns.sh installs and checks what is needed)")
}

func probe() (bool, string) {
	if os.Geteuid() != 0 {
		return false, fmt.Sprintf("network namespaces need root (running as uid %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false, "iproute2's ip is not installed"
	}
	sweepStale()
	names := newNames(0)
	ns := names.namespace(0)
	defer func() {
		_, _ = ip("link", "del", names.hostLink(0))
		_, _ = ip("link", "del", names.bridge())
		_, _ = ip("netns", "del", ns)
	}()
	if out, err := ip("netns", "add", ns); err != nil {
		return false, fmt.Sprintf("cannot add a namespace (ip netns add): %v: %s", err, out)
	}
	if out, err := ip("link", "add", "name", names.bridge(), "type", "bridge"); err != nil {
		return false, fmt.Sprintf("cannot add a bridge: %v: %s", err, out)
	}
	if out, err := ip("link", "add", names.hostLink(0), "type", "veth", "peer", "name", "eth0", "netns", ns); err != nil {
		return false, fmt.Sprintf("cannot add a veth pair into a namespace: %v: %s", err, out)
	}
	return true, ""
}

// ip runs iproute2's ip with args and returns its combined output.
func ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
	}
	return s, nil
}
