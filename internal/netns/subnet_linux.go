//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The nets' subnets are 10.213.K.0/24, K in 1..250.
const (
	subnetBase = "10.213."
	subnetMin  = 1
	subnetMax  = 250
	// gatewayHost is the bridge's address in every subnet: the test
	// process's own address on the net.
	gatewayHost = 254
)

// lockWait bounds the wait for the machine-wide allocation lock (holders
// keep it for a few ip commands).
const lockWait = 60 * time.Second

// withSubnetLock runs f holding an exclusive flock on a file shared by
// every process of the machine, so that choosing a free subnet and
// claiming it (an address on the new bridge) is atomic across parallel
// test processes.
func withSubnetLock(f func() error) error {
	path := filepath.Join(os.TempDir(), "ember-netns.lock")
	lf, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return fmt.Errorf("netns: subnet lock: %w", err)
	}
	defer lf.Close()
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("netns: subnet lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns: subnet lock %s still held after %v", path, lockWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return f()
}

// usedSubnets returns the K of every 10.213.K.x address or route of the
// root namespace.
func usedSubnets() (map[int]bool, error) {
	used := map[int]bool{}
	for _, args := range [][]string{{"-4", "-o", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := ip(args...)
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(out) {
			rest, ok := strings.CutPrefix(f, subnetBase)
			if !ok {
				continue
			}
			k, _, _ := strings.Cut(rest, ".")
			if n, err := strconv.Atoi(k); err == nil {
				used[n] = true
			}
		}
	}
	return used, nil
}

// pickSubnet returns a K no address or route uses, starting from one
// derived from the pid (parallel processes mostly start apart).
func pickSubnet(used map[int]bool) (int, error) {
	span := subnetMax - subnetMin + 1
	start := os.Getpid() % span
	for i := range span {
		k := subnetMin + (start+i)%span
		if !used[k] {
			return k, nil
		}
	}
	return 0, fmt.Errorf("netns: every subnet %s{%d..%d}.0/24 is in use", subnetBase, subnetMin, subnetMax)
}

func hostIP(k, host int) string { return fmt.Sprintf("%s%d.%d", subnetBase, k, host) }
