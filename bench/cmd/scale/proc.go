package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStatus is what /proc/<pid>/status says about a process's memory, in
// KiB.
type procStatus struct {
	RSS     int64 // VmRSS: resident now
	HWM     int64 // VmHWM: the most ever resident
	Anon    int64 // RssAnon: anonymous (heap, stacks) resident
	File    int64 // RssFile: file-backed (the binary's text) resident
	Threads int64
}

// readStatus reads /proc/<pid>/status.
func readStatus(pid int) (procStatus, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	fields := map[string]*int64{"VmRSS:": &st.RSS, "VmHWM:": &st.HWM, "RssAnon:": &st.Anon,
		"RssFile:": &st.File, "Threads:": &st.Threads}
	found := 0
	for line := range bytes.SplitSeq(raw, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		if p := fields[f[0]]; p != nil {
			if *p, err = strconv.ParseInt(f[1], 10, 64); err != nil {
				return procStatus{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, f[0], err)
			}
			found++
		}
	}
	if found < len(fields) {
		return procStatus{}, fmt.Errorf("/proc/%d/status: %d of %d fields found", pid, found, len(fields))
	}
	return st, nil
}

// userHZ is the unit of /proc/<pid>/stat's utime and stime (USER_HZ, 100
// on every Linux ABI Go supports).
const userHZ = 100

// cpuTime is the user+system CPU time of every thread of process pid, from
// /proc/<pid>/stat (10 ms resolution).
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// raiseNoFile raises this process's RLIMIT_NOFILE to at least want
// descriptors: the soft limit up to the hard one, and the hard one too
// when the process may (root). It returns the soft limit now in force.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls until something accepts connections on addr, or
// limit passes, or exited is closed (the process that should listen is
// gone).
func waitListening(addr string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("nothing listens on %s: the process exited", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %w", addr, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rssSampler polls a process's VmRSS every interval and keeps the largest
// value seen; VmHWM gives the true peak, this shows when it happened.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	max  int64
}

func sampleRSS(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if st, err := readStatus(pid); err == nil && st.RSS > s.max {
				s.max = st.RSS
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the largest VmRSS seen, in KiB.
func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	return s.max
}
