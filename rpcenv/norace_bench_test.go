//go:build !race

package rpcenv

// raceDetectorOn is true under the race detector, which allocates behind
// the code's back, so allocation assertions are skipped.
const raceDetectorOn = false
