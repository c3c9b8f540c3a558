package authority

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/rpcenv"
)

// RefusalInterval is how often one peer host's refused messages are
// logged.
var RefusalInterval = 10 * time.Second

// Refusals logs refused messages: one warning per peer host per
// RefusalInterval, for at most 256 hosts at a time. Safe for concurrent
// use.
type Refusals struct{ lim *ratelog.Limiter }

// NewRefusals returns an empty Refusals.
func NewRefusals() *Refusals { return &Refusals{lim: ratelog.New(RefusalInterval, 256)} }

// Refuse logs (rate-limited) that msg, claiming to come from from, over
// conn, was refused with err.
func (r *Refusals) Refuse(log *slog.Logger, from rpcenv.Address, conn rpcenv.Conn, msg any, err error) {
	r.lim.Warn(log, RefusalKey(from, conn), "refusing message", "from", from.String(), "conn", conn.String(),
		"msg", fmt.Sprintf("%T", msg), "err", err)
}

// RefusalKey is the rate limiter's key for a refused message: the
// connection's real host when there is a connection (a peer cannot spread
// its lines over forged addresses), else the host the sender claims.
func RefusalKey(from rpcenv.Address, conn rpcenv.Conn) string {
	if !conn.IsZero() {
		return conn.RemoteAddr().Host
	}
	return from.Host
}
