// Package authority holds what the standalone daemons share when they
// decide whether a message comes from a peer with authority over them:
// comparing a claimed host with a trusted one (literally, or by IP through
// names resolved off the message loop), and the one rate-limited log line
// a refused message costs.
//
// # Model
//
// A Resolver keeps the IP addresses of host names. Trusted names (a
// daemon's configured masters, the master or driver it now follows) are
// looked up when the daemon learns them (Trust, Refresh); names a peer
// gives are looked up within a budget fixed for the Resolver's life. Every
// lookup runs on a goroutine the Resolver owns, bounded by LookupTimeout
// and cancelled by Close. The comparisons (SameHost, SameAddress) never
// wait: a name whose lookup has not answered yet compares as a name that
// does not resolve (only literally equal hosts match), and the lookup
// started for it serves the next message. A peer that was refused so (a
// master met by another spelling of its address before the lookup
// answered) is admitted when it sends again: masters and workers retry
// their registrations.
//
// # Concurrency
//
// A Resolver's methods may be called from any goroutine; the daemons call
// the comparisons from their endpoint's message loop. Close waits for the
// lookups in flight (each ends when its context is cancelled).
package authority
