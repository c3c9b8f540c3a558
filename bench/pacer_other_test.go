//go:build !linux

package bench

import "time"

// pacer waits until points in time with Go's timers (see the Linux
// version for why that is coarse on an idle process).
type pacer struct{}

func newPacer() *pacer { return &pacer{} }

// waitUntil returns at nanotime() >= at.
func (p *pacer) waitUntil(at int64) {
	for {
		d := at - nanotime()
		if d <= 0 {
			return
		}
		time.Sleep(time.Duration(d))
	}
}
