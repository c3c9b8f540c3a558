//go:build !linux

package netpoll

import (
	"errors"
	"strings"
	"testing"
)

// Off Linux, AUTO is NIO and EPOLL is refused with an error naming the
// platform; a reactor cannot be started.
func TestEpollRefusedOffLinux(t *testing.T) {
	if m, err := ParseIOMode("auto"); err != nil || m != NIO {
		t.Fatalf("AUTO = %q, %v; want NIO", m, err)
	}
	if _, err := ParseIOMode("EPOLL"); err == nil || !strings.Contains(err.Error(), "EPOLL needs Linux") {
		t.Fatalf("EPOLL: err %v, want a refusal", err)
	}
	if _, err := newReactor(1); !errors.Is(err, errNoEpoll) {
		t.Fatalf("newReactor: %v, want errNoEpoll", err)
	}
}
