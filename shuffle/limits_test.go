package shuffle

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/internal/testutil"
)

// totalAlloc returns the bytes allocated so far by the process.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fetchHeader encodes FetchShuffleBlocks' fields up to the map ids.
func fetchHeader(mapIDs int) []byte {
	d := []byte{byte(TypeFetchShuffleBlocks)}
	d = codec.AppendString(d, "app-1")
	d = codec.AppendString(d, "exec-1")
	d = appendI32(d, 0)
	d = appendI32(d, int32(mapIDs))
	return d
}

// TestDecodeRefusesBeforeAllocating: requests whose counts the bytes
// cannot back, whose arrays do not pair up, or that name more blocks than
// the cap are refused having allocated (far) less than the message itself;
// the old decoder allocated a 24-byte slice header per declared array.
func TestDecodeRefusesBeforeAllocating(t *testing.T) {
	const n = 4 << 20 // 16 MiB of empty reduce arrays (the attack sent 64 M)
	emptyArrays := appendI32(fetchHeader(0), n)
	emptyArrays = append(emptyArrays, make([]byte, 4*n+1)...)

	// One map id declared per 12 bytes that are not there.
	hugeMaps := appendI32(fetchHeader(0)[:len(fetchHeader(0))-4], 1<<30)
	hugeMaps = append(hugeMaps, make([]byte, 1<<20)...)

	// 2 M maps of one reduce id each: well formed, over a 1 M cap.
	const maps = 2 << 20
	overCap := fetchHeader(maps)
	overCap = append(overCap, make([]byte, 8*maps)...)
	overCap = appendI32(overCap, maps)
	for i := 0; i < maps; i++ {
		overCap = appendI32(appendI32(overCap, 1), 7)
	}
	overCap = append(overCap, 0)

	// OpenBlocks naming 2 M (empty) block ids.
	openIDs := []byte{byte(TypeOpenBlocks)}
	openIDs = codec.AppendString(codec.AppendString(openIDs, "app-1"), "exec-1")
	openIDs = appendI32(openIDs, maps)
	openIDs = append(openIDs, make([]byte, 4*maps)...)

	for _, tc := range []struct {
		name    string
		payload []byte
		cap     int
		want    error
	}{
		{"64M-style empty arrays, no map ids", emptyArrays, 0, codec.ErrMalformed},
		{"64M-style empty arrays, capped", emptyArrays, DefaultMaxBlocksPerRequest, codec.ErrMalformed},
		{"map count past the end", hugeMaps, 0, codec.ErrMalformed},
		{"2M maps over the cap", overCap, DefaultMaxBlocksPerRequest, ErrTooManyBlocks},
		{"2M block ids over the cap", openIDs, DefaultMaxBlocksPerRequest, ErrTooManyBlocks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := totalAlloc()
			m, err := DecodeRequest(tc.payload, tc.cap)
			allocated := totalAlloc() - before
			if m != nil || !errors.Is(err, tc.want) {
				t.Fatalf("DecodeRequest = %v, %v; want %v", m, err, tc.want)
			}
			if allocated > 1<<20 {
				t.Errorf("refusing a %d-byte request allocated %d bytes, want < 1 MiB", len(tc.payload), allocated)
			}
			t.Logf("%d-byte request refused (%v) after allocating %d bytes", len(tc.payload), err, allocated)
		})
	}

	// Without a cap, a well-formed request costs about its size: the 2M
	// maps decode into 8 (map id) + 24 (slice header) + 4 (reduce id)
	// bytes per map, 12 bytes of wire each.
	before := totalAlloc()
	m, err := DecodeRequest(overCap, 0)
	allocated := totalAlloc() - before
	if err != nil || len(m.(*FetchShuffleBlocks).ReduceIDs) != maps {
		t.Fatalf("uncapped decode: %v", err)
	}
	if limit := uint64(4 * len(overCap)); allocated > limit {
		t.Errorf("decoding a %d-byte request allocated %d bytes, want <= %d", len(overCap), allocated, limit)
	}
}

// TestCompactStreams: a stream over a million blocks keeps at most 16
// bytes per block (map id, its first chunk, the reduce id), resolving
// each block only when its chunk is fetched.
func TestCompactStreams(t *testing.T) {
	h := &blockHandler{maxBlocks: DefaultMaxBlocksPerRequest}
	const blocks = 1 << 20
	for _, tc := range []struct {
		name          string
		maps, reduces int
		perBlock      float64
	}{
		{"one map, 1M reduce ids", 1, blocks, 4.1},
		{"1000 maps of 1024 reduce ids", 1000, blocks / 1000, 4.1},
		{"1M maps of one reduce id", blocks, 1, 16.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &FetchShuffleBlocks{AppID: "a", ExecID: "e", MapIDs: make([]int64, tc.maps), ReduceIDs: make([][]int32, tc.maps)}
			for i := range m.MapIDs {
				m.MapIDs[i] = int64(i)
				m.ReduceIDs[i] = make([]int32, tc.reduces)
				for j := range m.ReduceIDs[i] {
					m.ReduceIDs[i][j] = int32(j)
				}
			}
			n := tc.maps * tc.reduces
			src, err := h.fetchChunks(m)
			if err != nil {
				t.Fatal(err)
			}
			m = nil
			if src.NumChunks() != n || src.mapOf(n-1) != int64(tc.maps-1) || src.a[n-1] != int32(tc.reduces-1) {
				t.Errorf("stream of %d chunks, last chunk map %d reduce %d", src.NumChunks(), src.mapOf(n-1), src.a[n-1])
			}
			// What the stream keeps (the message's map ids included) is
			// what dropping it frees.
			with := heapInUse()
			runtime.KeepAlive(src)
			src = nil
			retained := int64(with) - int64(heapInUse())
			per := float64(retained) / float64(n)
			t.Logf("%d blocks: %d bytes retained, %.2f per block", n, retained, per)
			if per > tc.perBlock || retained <= 0 {
				t.Errorf("%.2f bytes per block retained, want (0, %.1f]", per, tc.perBlock)
			}
		})
	}
}

// TestStreamMemoryOverConnection: the heap a 1M-reduce-id stream keeps
// while open, measured in the service (the attack kept 21 times the
// request's size); a 2M one is refused.
func TestStreamMemoryOverConnection(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 3, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, conf, "app-1")
		c := conn(t, cl, svc.Port())
		req := func(n int) []byte {
			reduces := make([]int32, n)
			for i := range reduces {
				reduces[i] = int32(i % 3)
			}
			return Encode(&FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", MapIDs: []int64{0}, ReduceIDs: [][]int32{reduces}})
		}
		big := req(DefaultMaxBlocksPerRequest)
		// The baseline holds the encoded request, which is dropped before
		// the second reading: take it out of the baseline, in signed
		// arithmetic (the heap may well end below the raw baseline).
		base := int64(heapInUse()) - int64(len(big))
		resp, err := c.SendRpcSync(big, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		big = nil
		retained := int64(heapInUse()) - base
		if retained <= 0 {
			t.Fatalf("retained %d bytes: the measurement saw no stream", retained)
		}
		per := float64(retained) / DefaultMaxBlocksPerRequest
		t.Logf("%s: a stream of %d blocks keeps %d bytes (%.2f per block) with the request dropped", mode, DefaultMaxBlocksPerRequest, retained, per)
		if per > 16 {
			t.Errorf("%.2f bytes per block retained, want <= 16", per)
		}
		h, err := Decode(resp)
		if err != nil || h.(*StreamHandle).NumChunks != DefaultMaxBlocksPerRequest {
			t.Fatalf("stream handle %v, %v", h, err)
		}
		// The stream resolves its blocks when asked.
		got := fetchChunks(t, c, h.(*StreamHandle).StreamID, 3)
		for r, g := range got {
			if g.err != nil || string(g.data) != string(sh.data(0, r)) {
				t.Errorf("chunk %d: %q, %v", r, head(g.data), g.err)
			}
		}

		_, err = c.SendRpcSync(req(DefaultMaxBlocksPerRequest+1), 30*time.Second)
		if err == nil || !strings.Contains(err.Error(), "maxBlocksPerRequest") {
			t.Errorf("a request over the cap: %v, want a refusal naming the key", err)
		}
		// A legitimate fetch after both.
		l := newRecListener(1)
		newClient(t, conf, "app-1").FetchBlocks(localhost, svc.Port(), "exec-1", []string{sh.id(0, 2)}, nil, l)
		l.wait(t)
		l.checkOK(t, map[string][]byte{sh.id(0, 2): sh.data(0, 2)})
	})
}

// TestConnectionBudget: a connection may hold so many open streams and
// blocks; a stream gives its share back when read to the end, and other
// connections are served meanwhile.
func TestConnectionBudget(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.service.ember.maxBlocksPerConnection=10",
			"spark.shuffle.service.ember.maxStreamsPerConnection=3")
		svc := startService(t, conf, "", 0)
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 2, 3, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		c := conn(t, newClient(t, conf, "app-1"), svc.Port())
		six := &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1", MapIDs: []int64{0, 1}, ReduceIDs: [][]int32{{0, 1, 2}, {0, 1, 2}}}
		first := openStream(t, c, six)
		if _, err := c.SendRpcSync(Encode(six), 30*time.Second); err == nil || !strings.Contains(err.Error(), "maxBlocksPerConnection") {
			t.Errorf("12 blocks open on a connection allowing 10: %v", err)
		}
		// Another connection is served meanwhile.
		l := newRecListener(6)
		newClient(t, conf, "app-1").FetchBlocks(localhost, svc.Port(), "exec-1", sh.ids(), nil, l)
		l.wait(t)
		l.checkOK(t, sh.expected())
		// Reading the first stream to its end frees its share.
		for i, g := range fetchChunks(t, c, first.StreamID, 6) {
			if g.err != nil {
				t.Fatalf("chunk %d: %v", i, g.err)
			}
		}
		second := openStream(t, c, six)
		fetchChunks(t, c, second.StreamID, 6)
		// Streams: three empty ones stay open until the connection closes.
		empty := &FetchShuffleBlocks{AppID: "app-1", ExecID: "exec-1"}
		for i := 0; i < 3; i++ {
			openStream(t, c, empty)
		}
		if _, err := c.SendRpcSync(Encode(empty), 30*time.Second); err == nil || !strings.Contains(err.Error(), "maxStreamsPerConnection") {
			t.Errorf("a fourth open stream on a connection allowing 3: %v", err)
		}
		c.Close()
		testutil.Eventually(t, 10*time.Second, "the closed connection's streams freed", func() (bool, string) {
			n := svc.streams.NumStreams()
			return n == 0, fmt.Sprintf("%d streams", n)
		})
	})
}

// ids returns every block id of the shuffle.
func (s *shuffleFiles) ids() []string {
	var out []string
	for id := range s.expected() {
		out = append(out, id)
	}
	return out
}

// TestLocalDirPolicy: which local dirs an executor may register.
func TestLocalDirPolicy(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	for _, d := range []string{filepath.Join(root, "ok"), filepath.Join(other, "secret")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"to-etc": "/etc", "to-other": other, "to-root": "/", "to-ok": filepath.Join(root, "ok")}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	roots, err := newDirPolicy([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := newDirPolicy(nil)
	for _, tc := range []struct {
		dir             string
		inRoots, anyDir bool
	}{
		{"/", false, false},
		{"/etc", false, false},
		{"/etc/ssh", false, false},
		{"/proc/self", false, false},
		{"/proc/self/cwd", false, false},
		{"/sys/kernel", false, false},
		{"/dev/shm", false, false},
		{"/usr/lib", false, false},
		{"/lib64/x", false, false},
		{"/boot/grub", false, false},
		{"/tmp", false, false},
		{"/root", false, false},
		{"relative/blockmgr-1", false, false},
		{"", false, false},
		{root + "/../etc", false, false},
		{root + "/ok/../ok", false, false},
		{filepath.Join(root, "to-etc"), false, false},
		{filepath.Join(root, "to-etc", "blockmgr-1"), false, false},
		{filepath.Join(root, "to-root"), false, false},
		{filepath.Join(root, "to-other", "blockmgr-1"), false, true},
		{filepath.Join(other, "secret"), false, true},
		{root, false, true},
		{filepath.Join(root, "ok"), true, true},
		{filepath.Join(root, "to-ok"), true, true},
		{filepath.Join(root, "not-yet", "blockmgr-1"), true, true},
	} {
		if err := roots.check(tc.dir); (err == nil) != tc.inRoots || (err != nil && !errors.Is(err, ErrLocalDirRefused)) {
			t.Errorf("roots [%s]: check(%q) = %v, want accepted %v", root, tc.dir, err, tc.inRoots)
		}
		if err := all.check(tc.dir); (err == nil) != tc.anyDir {
			t.Errorf("any dir: check(%q) = %v, want accepted %v", tc.dir, err, tc.anyDir)
		}
	}
}

// TestRegisterRefusesDirs: the service refuses such registrations over
// the wire (both io modes), logs one line per peer per interval, and
// serves a legitimate executor during and after.
func TestRegisterRefusesDirs(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		logs := &logBuffer{}
		svc, err := NewService(ServiceConfig{Conf: conf, Host: localhost, Port: 0, Logger: logs.Logger(slog.LevelInfo)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		cl := newClient(t, conf, "app-1")
		for _, d := range []string{"/", "/etc", "/proc/self", "rel", "/home/nobody/blockmgr"} {
			for i := 0; i < 5; i++ {
				err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "evil", execInfo([]string{d}))
				if err == nil || !strings.Contains(err.Error(), "local dir refused") {
					t.Fatalf("registering %q: %v, want refused", d, err)
				}
			}
		}
		for i := 0; i < 20; i++ {
			if _, err := rawRPC(t, cl, svc.Port(), []byte{byte(TypeFetchShuffleBlocks), 1, 2}); err == nil {
				t.Fatal("an undecodable request was not refused")
			}
		}
		// One peer, one line per interval, whatever it was refused.
		if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "refused an executor registration") {
			t.Errorf("45 refused requests logged %d warnings, want 1:\n%s", n, logs)
		}
		if svc.RegisteredExecutors() != 0 {
			t.Errorf("%d executors registered", svc.RegisteredExecutors())
		}
		dirs := newExecDirs(t, 1)
		sh := writeShuffle(t, dirs, 0, 1, 2, nil)
		if err := cl.RegisterWithShuffleServer(localhost, svc.Port(), "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		l := newRecListener(2)
		cl.FetchBlocks(localhost, svc.Port(), "exec-1", sh.ids(), nil, l)
		l.wait(t)
		l.checkOK(t, sh.expected())
	})
}

// TestWarningsRateLimited: per-message warnings pass once per peer per
// interval and the next one carries the suppressed count.
func TestWarningsRateLimited(t *testing.T) {
	logs := &logBuffer{}
	now := time.Unix(0, 0)
	lim := ratelog.New(time.Minute, 16)
	lim.SetClock(func() time.Time { return now })
	res := &resolver{log: logs.Logger(slog.LevelInfo)}
	for i := 0; i < 100; i++ {
		lim.Warn(res.log, ratelog.PeerKey("10.0.0.1:1234"), "refused a stream", "i", i)
	}
	now = now.Add(time.Minute)
	lim.Warn(res.log, ratelog.PeerKey("10.0.0.1:999"), "refused a stream")
	if n := strings.Count(logs.String(), "refused a stream"); n != 2 || !strings.Contains(logs.String(), "suppressed=99") {
		t.Errorf("101 warnings gave %d lines:\n%s", n, logs)
	}
}

// TestSymlinkEscapes: a symbolic link in a registered dir (to a file, or a
// sub-dir linked elsewhere) is neither served nor deleted through.
func TestSymlinkEscapes(t *testing.T) {
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode)
		svc := startService(t, conf, "", 0)
		outside := sentinelDirs(t)
		secret := filepath.Join(outside[0], "sentinel")
		dirs := newExecDirs(t, 1)
		link := func(name, target string) {
			p := FilePath(dirs, testSubDirs, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
		link("rdd_1_2", secret)
		link(IndexFileName(0, 0), FilePath(outside, testSubDirs, IndexFileName(0, 0)))
		link(DataFileName(0, 0), FilePath(outside, testSubDirs, DataFileName(0, 0)))
		// A map whose sub-dir is a link to the same sub-dir of a dir
		// holding sentinel map outputs (maps 0-15 of shuffle 1).
		out2 := newExecDirs(t, 1)
		writeShuffle(t, out2, 1, 16, 3, func(int, int) []byte { return sentinel })
		linked := int64(-1)
		for m := int64(0); m < 16 && linked < 0; m++ {
			sub := filepath.Dir(FilePath(dirs, testSubDirs, IndexFileName(1, m)))
			if _, err := os.Lstat(sub); errors.Is(err, os.ErrNotExist) {
				if err := os.Symlink(filepath.Dir(FilePath(out2, testSubDirs, IndexFileName(1, m))), sub); err != nil {
					t.Fatal(err)
				}
				linked = m
			}
		}
		if linked < 0 {
			t.Fatal("every sub-dir is taken")
		}
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, conf, "app-1")
		ids := []string{"rdd_1_2", ShuffleBlockID(0, 0, 0), ShuffleBlockID(1, linked, 0)}
		l := newRecListener(len(ids))
		for _, id := range ids {
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", []string{id}, nil, l)
		}
		l.wait(t)
		for id, data := range l.successes() {
			checkNoSentinel(t, id, data)
		}
		if len(l.successes()) != 0 {
			t.Errorf("served %d blocks through links", len(l.successes()))
		}
		n, err := cl.RemoveBlocks(localhost, svc.Port(), "exec-1", []string{"rdd_1_2", DataFileName(0, 0), DataFileName(1, linked), IndexFileName(1, linked)})
		if err != nil || n != 0 {
			t.Errorf("RemoveBlocks through links removed %d, %v", n, err)
		}
		for _, p := range []string{secret, FilePath(outside, testSubDirs, DataFileName(0, 0)), FilePath(out2, testSubDirs, DataFileName(1, linked))} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s outside the registered dirs: %v", p, err)
			}
		}
	})
}
