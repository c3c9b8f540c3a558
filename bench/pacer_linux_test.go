package bench

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// pacerSpin is the wait below which the pacer spins on the clock instead
// of sleeping (ns).
const pacerSpin = 5_000

// pacer waits until points in time with a resolution of microseconds and
// without burning a CPU. Go's timers would do on a busy process, but on an
// idle one the runtime blocks in epoll_wait with a timeout in whole
// milliseconds, so a short time.Sleep can return up to 1 ms late; an
// open-loop generator needs better. The pacer sleeps with nanosleep(2) at
// a timer slack of 1 ns (set on whichever thread runs it), waking as early
// as it has lately overslept, and spins only for the last few
// microseconds.
//
// A goroutine in a system call keeps its P, and goroutines it made
// runnable just before wait in that P's run queue until some other P
// steals them or sysmon takes the P away. So waitUntil first yields
// (runtime.Gosched), letting the callers it released run, and only then
// sleeps. The pacer is not locked to a thread, so that the yield is cheap.
type pacer struct {
	oversleep int64 // moving average of how late nanosleep returns (ns)
}

func newPacer() *pacer { return &pacer{oversleep: 20_000} }

// waitUntil returns at nanotime() >= at, as soon after as it can.
func (p *pacer) waitUntil(at int64) {
	if at-nanotime() <= 0 {
		return
	}
	runtime.Gosched()
	for {
		d := at - nanotime()
		if d <= 0 {
			return
		}
		if d <= pacerSpin {
			for nanotime() < at {
			}
			return
		}
		s := max(d-p.oversleep, 1_000)
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		t0 := nanotime()
		ts := unix.NsecToTimespec(s)
		_ = unix.Nanosleep(&ts, nil)
		over := nanotime() - t0 - s
		p.oversleep += (min(max(over, 0), 200_000) - p.oversleep) / 8
	}
}
