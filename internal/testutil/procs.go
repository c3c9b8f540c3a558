package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func itoa(n int) string { return strconv.Itoa(n) }

// ProcessGone reports whether pid no longer runs: it does not exist, or it
// is a zombie (dead, waiting for its parent to reap it). It reads /proc;
// where there is no /proc it only checks that signal 0 fails.
func ProcessGone(pid int) bool {
	if pid <= 0 {
		return true
	}
	if !processExists(pid) {
		return true
	}
	st, ok := procStat(pid)
	if !ok {
		return false
	}
	return st.state == 'Z' || st.state == 'X'
}

// Proc describes a running process found in /proc.
type Proc struct {
	PID, PPID, PGID int
	Cmdline         []string
}

func (p Proc) String() string {
	return "pid " + itoa(p.PID) + " (ppid " + itoa(p.PPID) + ", pgid " + itoa(p.PGID) + "): " + strings.Join(p.Cmdline, " ")
}

// Processes lists the live (non-zombie) processes for which match returns
// true, sorted by pid. match gets the process, its environment
// (KEY=VALUE entries; nil if unreadable) and is never called for zombies.
// Without /proc it returns nothing.
func Processes(match func(p Proc, environ []string) bool) []Proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, ok := procStat(pid)
		if !ok || st.state == 'Z' || st.state == 'X' {
			continue
		}
		p := Proc{PID: pid, PPID: st.ppid, PGID: st.pgid, Cmdline: splitNul(readFile(filepath.Join("/proc", e.Name(), "cmdline")))}
		env := splitNul(readFile(filepath.Join("/proc", e.Name(), "environ")))
		if match(p, env) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// ProcessesWithEnv lists the live processes whose environment has exactly
// the entry kv (KEY=VALUE). Children inherit their parent's environment,
// so a marker variable set on a daemon finds everything it started.
func ProcessesWithEnv(kv string) []Proc {
	return Processes(func(_ Proc, env []string) bool {
		for _, e := range env {
			if e == kv {
				return true
			}
		}
		return false
	})
}

// ProcessesInGroup lists the live processes of process group pgid.
func ProcessesInGroup(pgid int) []Proc {
	return Processes(func(p Proc, _ []string) bool { return p.PGID == pgid })
}

type stat struct {
	state      byte
	ppid, pgid int
}

// procStat parses /proc/<pid>/stat: "pid (comm) state ppid pgrp ...".
func procStat(pid int) (stat, bool) {
	b := readFile("/proc/" + itoa(pid) + "/stat")
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return stat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return stat{}, false
	}
	return stat{state: f[0][0], ppid: ppid, pgid: pgid}, true
}

func readFile(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

func splitNul(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}
