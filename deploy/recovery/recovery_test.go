package recovery

import (
	"errors"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitLimit bounds every wait of the suite: it only turns a hang into a
// failure and never decides an outcome.
const waitLimit = 60 * time.Second

// waitFor polls cond until it holds, failing t after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, waitLimit)
		}
		<-tick.C
	}
}

// recorder is a Leadership that records its callbacks in order.
type recorder struct {
	events chan string
	inside atomic.Int32 // callbacks running now
}

func newRecorder() *recorder { return &recorder{events: make(chan string, 64)} }

func (r *recorder) record(ev string) {
	if r.inside.Add(1) != 1 {
		ev = "concurrent " + ev
	}
	r.events <- ev
	r.inside.Add(-1)
}

func (r *recorder) ElectedLeader()     { r.record("elected") }
func (r *recorder) RevokedLeadership() { r.record("revoked") }

// next waits for the next callback and checks it is want.
func (r *recorder) next(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.events:
		if got != want {
			t.Fatalf("callback %q, want %q", got, want)
		}
	case <-time.After(waitLimit):
		t.Fatalf("no %q callback after %v", want, waitLimit)
	}
}

// none checks that no callback is pending. Only meaningful when the agent
// cannot be calling one: parked or stopped.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-r.events:
		t.Fatalf("unexpected callback %q", got)
	default:
	}
}

func TestNone(t *testing.T) {
	e := None()
	if err := e.Persist("app_1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := e.Persist("app_1", []byte("x")); err != nil {
		t.Fatalf("NONE persists nothing, so nothing exists: %v", err)
	}
	got, err := e.Read("app_")
	if err != nil || len(got) != 0 {
		t.Fatalf("Read = %v, %v; want empty", got, err)
	}
	if err := e.Unpersist("app_1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSelfElect(t *testing.T) {
	r := newRecorder()
	a := SelfElect(r)
	r.next(t, "elected") // called before SelfElect returns
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	r.none(t)
}

// store opens engines on one backing store; opening again is a restart.
type store func(t *testing.T) Engine

// testEngine runs the persistence semantics every engine shares, each
// subtest on a fresh store from newStore.
func testEngine(t *testing.T, newStore func(t *testing.T) store) {
	t.Run("RoundTrip", func(t *testing.T) {
		e := newStore(t)(t)
		want := map[string][]byte{
			"app_app-20240101000000-0000":   []byte("application"),
			"driver_driver-20240101-0001":   []byte("driver"),
			"worker_worker-20240101-h-7078": {0, 1, 2, 255},
			"app_app-20240101000000-0001":   {},
		}
		for k, v := range want {
			if err := e.Persist(k, v); err != nil {
				t.Fatalf("Persist(%s): %v", k, err)
			}
		}
		for _, prefix := range []string{"app_", "driver_", "worker_", ""} {
			got, err := e.Read(prefix)
			if err != nil {
				t.Fatalf("Read(%q): %v", prefix, err)
			}
			exp := map[string][]byte{}
			for k, v := range want {
				if strings.HasPrefix(k, prefix) {
					exp[k] = v
				}
			}
			assertRead(t, prefix, got, exp)
		}
		if err := e.Unpersist("app_app-20240101000000-0000"); err != nil {
			t.Fatal(err)
		}
		got, err := e.Read("app_")
		if err != nil {
			t.Fatal(err)
		}
		assertRead(t, "app_", got, map[string][]byte{"app_app-20240101000000-0001": {}})
		// A key can be persisted again once unpersisted.
		if err := e.Persist("app_app-20240101000000-0000", []byte("again")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("PersistExisting", func(t *testing.T) {
		e := newStore(t)(t)
		if err := e.Persist("worker_1", []byte("first")); err != nil {
			t.Fatal(err)
		}
		err := e.Persist("worker_1", []byte("second"))
		if !errors.Is(err, ErrExists) {
			t.Fatalf("second Persist = %v, want ErrExists", err)
		}
		if !strings.Contains(err.Error(), "File already exists") || !strings.Contains(err.Error(), "worker_1") {
			t.Fatalf("error %q should say the key already exists and name it", err)
		}
		got, err := e.Read("worker_")
		if err != nil {
			t.Fatal(err)
		}
		assertRead(t, "worker_", got, map[string][]byte{"worker_1": []byte("first")})
	})

	t.Run("UnpersistMissing", func(t *testing.T) {
		e := newStore(t)(t)
		if err := e.Unpersist("driver_missing"); err != nil {
			t.Fatalf("Unpersist of a missing key = %v, want nil", err)
		}
		if err := e.Persist("driver_1", nil); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := e.Unpersist("driver_1"); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("ReadEmpty", func(t *testing.T) {
		e := newStore(t)(t)
		got, err := e.Read("app_")
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Read on an empty store = %v, %v; want an empty map", got, err)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		open := newStore(t)
		e1 := open(t)
		if err := e1.Persist("app_1", []byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := e1.Persist("worker_1", []byte("w")); err != nil {
			t.Fatal(err)
		}
		if err := e1.Close(); err != nil {
			t.Fatal(err)
		}
		e2 := open(t)
		got, err := e2.Read("")
		if err != nil {
			t.Fatal(err)
		}
		assertRead(t, "", got, map[string][]byte{"app_1": []byte("a"), "worker_1": []byte("w")})
		if err := e2.Persist("app_1", []byte("b")); !errors.Is(err, ErrExists) {
			t.Fatalf("Persist after restart = %v, want ErrExists", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		e := newStore(t)(t)
		for _, k := range []string{"", ".", "..", ".hidden", "a/b", "../app_1", "a\x00b"} {
			if err := e.Persist(k, nil); err == nil {
				t.Errorf("Persist(%q) succeeded", k)
			}
			if err := e.Unpersist(k); err == nil {
				t.Errorf("Unpersist(%q) succeeded", k)
			}
		}
	})
}

func assertRead(t *testing.T, prefix string, got, want map[string][]byte) {
	t.Helper()
	eq := maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) })
	if !eq {
		t.Fatalf("Read(%q) = %q, want %q", prefix, got, want)
	}
}
