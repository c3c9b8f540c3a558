//go:build race

package codec

// raceEnabled is true under the race detector, which allocates on its own
// (and makes sync.Pool drop items), so allocation counts mean nothing there.
const raceEnabled = true
