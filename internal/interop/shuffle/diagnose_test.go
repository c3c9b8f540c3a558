package shuffle_test

import (
	"os"
	"testing"

	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/shuffle"
)

// Algorithm names DiagnoseCorruption is asked about: Spark's three, and
// names it does not support (other algorithms, other cases, none, a path).
var diagnoseAlgorithms = []string{"ADLER32", "CRC32", "CRC32C", "MD5", "unknown", "", "adler32", "Crc32c", "../../escape", outsideAlgorithm}

// outsideAlgorithm makes the checksum file's name leave the executor's
// local dirs: <dir>/<sub>/shuffle_..checksum../../../../escape.
const outsideAlgorithm = "../../../../escape"

func supported(algorithm string) bool {
	return algorithm == "ADLER32" || algorithm == "CRC32" || algorithm == "CRC32C"
}

// diagnoseCase is one row of the table: a block, the reader's checksum
// (right: the block's true checksum under the algorithm; else off by one)
// and what Spark's service answers for a supported algorithm ("FAIL": it
// fails the request).
type diagnoseCase struct {
	name    string
	execID  string
	mapID   int64
	reduce  int32
	right   bool
	want    string
	anyAlgo bool // the answer does not depend on the algorithm
}

// The maps of the diagnosis shuffle, each set up for some cases.
const (
	mapGood      = 30 // checksum files of every supported algorithm, plus decoys
	mapNoSums    = 31 // no checksum file
	mapCorrupt   = 32 // a byte of partition 1 flipped on disk after checksumming
	mapShortSums = 33 // checksum files with two entries of four
	mapNoData    = 34 // data file deleted
	mapCutData   = 35 // data file cut inside partition 1
	mapNoIndex   = 36 // index file deleted
)

var diagnoseCases = []diagnoseCase{
	{name: "checksums verify", mapID: mapGood, reduce: 1, right: true, want: "CHECKSUM_VERIFY_PASS"},
	{name: "network corruption", mapID: mapGood, reduce: 1, want: "NETWORK_ISSUE"},
	{name: "empty block", mapID: mapGood, reduce: 0, right: true, want: "CHECKSUM_VERIFY_PASS"},
	{name: "large block, network corruption", mapID: mapGood, reduce: 3, want: "NETWORK_ISSUE"},
	{name: "checksum file missing", mapID: mapNoSums, reduce: 1, right: true, want: "UNKNOWN_ISSUE"},
	{name: "data corrupted on disk", mapID: mapCorrupt, reduce: 1, right: true, want: "DISK_ISSUE"},
	{name: "data corrupted on disk, reader agrees", mapID: mapCorrupt, reduce: 1, want: "DISK_ISSUE"},
	{name: "intact partition of a corrupted file", mapID: mapCorrupt, reduce: 3, right: true, want: "CHECKSUM_VERIFY_PASS"},
	{name: "checksum file too short", mapID: mapShortSums, reduce: 3, right: true, want: "UNKNOWN_ISSUE"},
	{name: "checksum file long enough", mapID: mapShortSums, reduce: 1, right: true, want: "CHECKSUM_VERIFY_PASS"},
	{name: "data file missing", mapID: mapNoData, reduce: 1, right: true, want: "UNKNOWN_ISSUE"},
	{name: "data file cut inside the partition", mapID: mapCutData, reduce: 1, right: true, want: "DISK_ISSUE"},
	{name: "data file ends before the partition", mapID: mapCutData, reduce: 2, right: true, want: "DISK_ISSUE"},
	{name: "index file missing", mapID: mapNoIndex, reduce: 0, want: "FAIL", anyAlgo: true},
	{name: "reduce id past the index", mapID: mapGood, reduce: 4, want: "FAIL", anyAlgo: true},
	{name: "negative reduce id", mapID: mapGood, reduce: -1, want: "FAIL", anyAlgo: true},
	{name: "unknown map", mapID: 99, reduce: 0, want: "FAIL", anyAlgo: true},
	{name: "unregistered executor", execID: "exec-nobody", mapID: mapGood, reduce: 1, right: true, want: "FAIL", anyAlgo: true},
}

// wantFor is Spark's answer for algorithm: the case's for a supported
// one; for another, UNSUPPORTED_CHECKSUM_ALGORITHM once the block resolves
// (Spark resolves the block, and checks that the checksum file's path stays
// in the executor's dirs, first).
func (c diagnoseCase) wantFor(algorithm string) string {
	switch {
	case c.anyAlgo || algorithm == outsideAlgorithm:
		return "FAIL"
	case supported(algorithm):
		return c.want
	}
	return "UNSUPPORTED_CHECKSUM_ALGORITHM"
}

// writeDiagnoseShuffle lays out the maps the cases need.
func writeDiagnoseShuffle(t *testing.T) *testShuffle {
	t.Helper()
	sh := writeShuffle(t, 5, []int64{mapGood, mapNoSums, mapCorrupt, mapShortSums, mapNoData, mapCutData, mapNoIndex}, 4, normalBlocks)
	for _, algo := range []string{"ADLER32", "CRC32", "CRC32C"} {
		for _, m := range []int64{mapGood, mapCorrupt, mapNoData, mapCutData, mapNoIndex} {
			sh.writeChecksums(t, m, algo, sh.sums(m, algo))
		}
		sh.writeChecksums(t, mapShortSums, algo, sh.sums(mapShortSums, algo)[:2])
	}
	// Decoys: files named for unsupported algorithms, one holding the
	// right values (a case-insensitive lookup would find it).
	for _, algo := range []string{"MD5", "unknown", "", "Crc32c"} {
		sh.writeChecksums(t, mapGood, algo, []int64{1, 2, 3, 4})
	}
	sh.writeChecksums(t, mapGood, "adler32", sh.sums(mapGood, "ADLER32"))

	mustNonEmpty := func(m int64, r int) {
		if len(sh.blocks[m][r]) == 0 {
			t.Fatalf("test data: partition %d of map %d is empty", r, m)
		}
	}
	offset := func(m int64, r int) int64 {
		var off int64
		for i := 0; i < r; i++ {
			off += int64(len(sh.blocks[m][i]))
		}
		return off
	}
	// mapCorrupt: flip a byte of partition 1.
	mustNonEmpty(mapCorrupt, 1)
	p := sh.path(shuffle.DataFileName(sh.shuffleID, mapCorrupt))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[offset(mapCorrupt, 1)+int64(len(sh.blocks[mapCorrupt][1])/2)] ^= 0x20
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// mapCutData: the file ends in the middle of partition 1; partition 2
	// starts past its end.
	mustNonEmpty(mapCutData, 1)
	mustNonEmpty(mapCutData, 2)
	if err := os.Truncate(sh.path(shuffle.DataFileName(sh.shuffleID, mapCutData)),
		offset(mapCutData, 1)+int64(len(sh.blocks[mapCutData][1])/2)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{shuffle.DataFileName(sh.shuffleID, mapNoData), shuffle.IndexFileName(sh.shuffleID, mapNoIndex)} {
		if err := os.Remove(sh.path(name)); err != nil {
			t.Fatal(err)
		}
	}
	return sh
}

// readerChecksum is the checksum the reader reports in case c.
func (c diagnoseCase) readerChecksum(sh *testShuffle, algorithm string) int64 {
	if !supported(algorithm) {
		algorithm = "ADLER32"
	}
	var v int64
	if parts := sh.blocks[c.mapID]; c.reduce >= 0 && int(c.reduce) < len(parts) {
		v = checksum(algorithm, parts[c.reduce])
	}
	if !c.right {
		v++
	}
	return v
}

// emberDiagnosis is an answer through Ember's client.
func emberDiagnosis(cause shuffle.Cause, err error) diagnosis {
	if err != nil {
		return diagnosis{cause: cause.String(), err: err.Error()}
	}
	return diagnosis{cause: cause.String()}
}

// TestDiagnoseCorruptionMatchesSpark: for every case (checksums verify,
// network corruption, data corrupted on disk, checksum file missing or
// short, data file missing or cut, block that does not resolve) and every
// algorithm name, supported or not, Ember's service answers
// DiagnoseCorruption as Spark's does for the same files, asked by Spark's
// client and by Ember's; and Ember's client reports what Spark's client
// reports.
func TestDiagnoseCorruptionMatchesSpark(t *testing.T) {
	testutil.CheckLeaks(t)
	peer := startPeer(t)
	sh := writeDiagnoseShuffle(t)
	const execID = "exec-1"
	sparkPort := peer.startServer(t, "ess")
	peer.startClient(t, "j", appID)
	peer.must(append([]string{"register", "j", localhost, itoa(sparkPort), execID, itoa(subDirs), shuffle.SortShuffleManager}, sh.dirs...)...)

	type answer struct {
		byClient string
		raw      diagnosis
	}
	fromSpark := map[string]answer{} // Spark's client and service
	key := func(c diagnoseCase, algo string) string { return c.name + "/" + algo }
	for _, c := range diagnoseCases {
		for _, algo := range diagnoseAlgorithms {
			exec := execID
			if c.execID != "" {
				exec = c.execID
			}
			byClient, raw := peer.diagnose(t, "j", sparkPort, exec, sh.shuffleID, c.mapID, c.reduce, c.readerChecksum(sh, algo), algo)
			fromSpark[key(c, algo)] = answer{byClient, raw}
			if raw.kind() != c.wantFor(algo) {
				t.Errorf("%s, algorithm %q: Spark's service answers %v; the table expects %s", c.name, algo, raw, c.wantFor(algo))
			}
			if want := raw.kind(); want != "FAIL" && byClient != want {
				t.Errorf("%s, algorithm %q: Spark's client says %s, its service %s", c.name, algo, byClient, want)
			}
		}
	}

	for _, mode := range ioModes {
		t.Run(mode, func(t *testing.T) {
			svc, err := shuffle.NewService(shuffle.ServiceConfig{Conf: emberConf(mode), Host: localhost, Port: 0, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			cl := newEmberClient(t, mode, "")
			if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), execID, sh.info()); err != nil {
				t.Fatal(err)
			}
			for _, c := range diagnoseCases {
				for _, algo := range diagnoseAlgorithms {
					exec := execID
					if c.execID != "" {
						exec = c.execID
					}
					sum := c.readerChecksum(sh, algo)
					spark := fromSpark[key(c, algo)]
					// Spark's client, Ember's service.
					byClient, raw := peer.diagnose(t, "j", svc.Port(), exec, sh.shuffleID, c.mapID, c.reduce, sum, algo)
					if raw.kind() != spark.raw.kind() || byClient != spark.byClient {
						t.Errorf("%s, algorithm %q: Ember's service answers %v (Spark's client says %s); Spark's answers %v (%s)",
							c.name, algo, raw, byClient, spark.raw, spark.byClient)
					}
					// Ember's client, both services.
					for _, s := range []struct {
						name string
						port int
					}{{"Spark's", sparkPort}, {"Ember's", svc.Port()}} {
						got := emberDiagnosis(cl.DiagnoseCorruption(localhost, s.port, exec, sh.shuffleID, c.mapID, c.reduce, sum, algo))
						if got.kind() != spark.raw.kind() || got.cause != spark.byClient {
							t.Errorf("%s, algorithm %q: Ember's client asking %s service gets %v (cause %s); Spark's client gets %v (cause %s)",
								c.name, algo, s.name, got, got.cause, spark.raw, spark.byClient)
						}
					}
				}
			}
		})
	}
}
