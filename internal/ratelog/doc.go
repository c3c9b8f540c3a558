// Package ratelog rate-limits log lines per peer, so that one hostile or
// broken peer cannot turn a per-message warning ("dropping one-way
// message", "refused RPC") into megabytes of log per second.
//
// Model: a Limiter keeps, per key (usually the peer's host), the time of
// the last line it let through and how many it has suppressed since. The
// first line for a key passes; further lines for that key within the
// interval are counted, not logged; the next line after the interval
// passes and carries the count ("suppressed"=n). The number of keys is
// bounded: when the table is full, stale keys are dropped, and if none is
// stale every new key shares one overflow entry, so a peer that sprays
// from many addresses still costs one line per interval.
//
// Usage:
//
//	var warn = ratelog.New(time.Minute, 1024)
//	...
//	warn.Warn(log, ratelog.PeerKey(remote), "dropping one-way message", "remote", remote, "err", err)
//
// Concurrency: a Limiter is safe for concurrent use; its methods take a
// mutex for a map lookup and never hold it while logging.
package ratelog
