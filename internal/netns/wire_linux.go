//go:build linux

package netns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/atomic"
	"golang.org/x/sys/unix"
)

// Impairment is what a wire does to the frames crossing it, in each
// direction independently. The zero value passes frames on at once.
//
// It emulates a slow, lossy path between the host and the rest of the
// net at the Ethernet level, below TCP: the kernels' TCP sees real
// round-trip times, real losses (and retransmits, backs off, times out),
// and a real bottleneck queue. It does not emulate reordering (frames
// leave in the order they came), duplication, corruption, or a path whose
// properties differ per peer: one host's link is impaired for all its
// traffic.
type Impairment struct {
	// Delay is added to every frame; Jitter adds a further uniform random
	// delay in [0, Jitter). Frames still leave in order: a frame never
	// overtakes the one before it.
	Delay, Jitter time.Duration
	// Loss is the probability (0 to 1) that a frame is dropped.
	Loss float64
	// Rate is the link's bit rate (bits per second; 0: unlimited): a
	// frame leaves no sooner than the previous one's serialization time
	// after it, so a queue builds when more is sent.
	Rate int64
	// Queue bounds the bytes waiting in each direction (default 4 MiB);
	// frames beyond it are dropped, as a router's full buffer does.
	Queue int
}

func (i Impairment) validate() error {
	if i.Delay < 0 || i.Jitter < 0 || i.Rate < 0 || i.Queue < 0 {
		return fmt.Errorf("netns: negative impairment %+v", i)
	}
	if i.Loss < 0 || i.Loss > 1 {
		return fmt.Errorf("netns: impairment loss %v is not a probability", i.Loss)
	}
	return nil
}

func (i Impairment) String() string {
	var parts []string
	if i.Delay > 0 {
		parts = append(parts, "delay "+i.Delay.String())
	}
	if i.Jitter > 0 {
		parts = append(parts, "jitter "+i.Jitter.String())
	}
	if i.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %.3g%%", 100*i.Loss))
	}
	if i.Rate > 0 {
		parts = append(parts, fmt.Sprintf("rate %.3g Mbit/s", float64(i.Rate)/1e6))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

const defaultQueue = 4 << 20

// WireStats count what a wire did, both directions together.
type WireStats struct {
	Frames   uint64 // passed on
	Bytes    uint64 // passed on
	Lost     uint64 // dropped by Loss
	Overflow uint64 // dropped because the queue was full
}

// wire joins two TAP devices, one moved into the host's namespace (its
// eth0) and one on the bridge, by copying frames between them through an
// Impairment. It runs in the test process: two goroutines per direction,
// a reader that stamps each frame with its due time and a writer that
// sends it then.
type wire struct {
	inside, outside *os.File
	stop            chan struct{}
	wg              sync.WaitGroup
	closeOnce       sync.Once

	mu  sync.Mutex // guards imp and rng
	imp Impairment
	rng *rand.Rand

	frames, bytes, lost, overflow atomic.Uint64
}

type frame struct {
	b   []byte
	due time.Time
}

// newWire creates TAP devices named inside and outside (both in the
// test process's namespace; the caller moves inside to the host) and
// starts copying between them. The devices go when the wire closes.
func newWire(inside, outside string, seed uint64) (*wire, error) {
	in, err := openTap(inside)
	if err != nil {
		return nil, err
	}
	out, err := openTap(outside)
	if err != nil {
		in.Close()
		return nil, err
	}
	w := &wire{inside: in, outside: out, stop: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, seed^0xda3e39cb94b95bdb))}
	w.startDirection(in, out)
	w.startDirection(out, in)
	return w, nil
}

// openTap creates a TAP device (frames without packet information) and
// returns its file, non-blocking so that reads go through Go's poller and
// Close interrupts them.
func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netns: opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netns: TAP name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netns: creating TAP %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (w *wire) set(imp Impairment) error {
	if err := imp.validate(); err != nil {
		return err
	}
	w.mu.Lock()
	w.imp = imp
	w.mu.Unlock()
	return nil
}

func (w *wire) stats() WireStats {
	return WireStats{Frames: w.frames.Load(), Bytes: w.bytes.Load(), Lost: w.lost.Load(), Overflow: w.overflow.Load()}
}

// decide applies the impairment to a frame of n bytes arriving now: false
// to drop it (lost), else its delay and the bits it occupies the link.
func (w *wire) decide(n int) (keep bool, delay time.Duration, tx time.Duration, limit int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	imp := w.imp
	if imp.Loss > 0 && w.rng.Float64() < imp.Loss {
		return false, 0, 0, 0
	}
	delay = imp.Delay
	if imp.Jitter > 0 {
		delay += time.Duration(w.rng.Int64N(int64(imp.Jitter)))
	}
	if imp.Rate > 0 {
		tx = time.Duration(int64(n) * 8 * int64(time.Second) / imp.Rate)
	}
	limit = imp.Queue
	if limit == 0 {
		limit = defaultQueue
	}
	return true, delay, tx, limit
}

// startDirection copies frames from src to dst until the wire closes.
func (w *wire) startDirection(src, dst *os.File) {
	q := make(chan frame, 16384)
	var queued atomic.Int64 // bytes in q
	w.wg.Add(2)
	go func() { // reader: the only sender on q
		defer w.wg.Done()
		defer close(q)
		buf := make([]byte, 65536)
		var txFree, lastDue time.Time // when the link is next free; the last frame's due time
		pause := time.NewTimer(time.Hour)
		defer pause.Stop()
		for {
			n, err := src.Read(buf)
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				// Some other failure of the device (it is being
				// deleted, say): try again shortly, without spinning.
				pause.Reset(10 * time.Millisecond)
				select {
				case <-w.stop:
					return
				case <-pause.C:
				}
				continue
			}
			keep, delay, tx, limit := w.decide(n)
			if !keep {
				w.lost.Inc()
				continue
			}
			if queued.Load()+int64(n) > int64(limit) {
				w.overflow.Inc()
				continue
			}
			now := time.Now()
			start := now
			if txFree.After(start) {
				start = txFree
			}
			txFree = start.Add(tx)
			due := txFree.Add(delay)
			if due.Before(lastDue) {
				due = lastDue // in order
			}
			lastDue = due
			f := frame{b: append([]byte(nil), buf[:n]...), due: due}
			queued.Add(int64(n))
			select {
			case q <- f:
			case <-w.stop:
				return
			default:
				queued.Add(-int64(n))
				w.overflow.Inc()
			}
		}
	}()
	go func() { // writer
		defer w.wg.Done()
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for f := range q {
			if d := time.Until(f.due); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-w.stop:
					return
				}
			}
			queued.Add(-int64(len(f.b)))
			if _, err := dst.Write(f.b); err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				continue // the receiving end is down (a cut link): the frame is lost
			}
			w.frames.Inc()
			w.bytes.Add(uint64(len(f.b)))
		}
	}()
}

// close stops the wire's goroutines and closes the TAP files (the kernel
// then deletes the devices). Idempotent.
func (w *wire) close() {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.inside.Close()
		w.outside.Close()
		w.wg.Wait()
	})
}
