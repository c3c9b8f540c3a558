package shuffle

import (
	"strings"
	"testing"
)

// TestOpenFileCacheThroughService: spark.shuffle.service.ember.maxOpenFiles
// sizes the cache (a negative value is refused); with room for 2 files,
// two concurrent fetches of 24 maps' blocks (files evicted while their
// chunks are still queued or being sent, and shared by both streams) get
// every block right, in both io modes, and the cache ends full at 2.
func TestOpenFileCacheThroughService(t *testing.T) {
	svc, err := NewService(ServiceConfig{Conf: testConf("NIO", "spark.shuffle.service.ember.maxOpenFiles=-1"),
		Host: localhost, Logger: quietLogger()})
	if err == nil {
		svc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "maxOpenFiles") {
		t.Errorf("maxOpenFiles=-1: %v, want an error naming the key", err)
	}
	eachMode(t, func(t *testing.T, mode string) {
		checkLeaks(t)
		conf := testConf(mode, "spark.shuffle.service.ember.maxOpenFiles=2")
		svc := startService(t, conf, "", 0)
		if svc.res.files.max != 2 {
			t.Fatalf("cache of %d files, want 2", svc.res.files.max)
		}
		dirs := newExecDirs(t, 2)
		sh := writeShuffle(t, dirs, 0, 24, 4, nil)
		if err := svc.RegisterExecutor("app-1", "exec-1", execInfo(dirs)); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, conf, "app-1")
		ls := []*recListener{newRecListener(len(sh.ids())), newRecListener(len(sh.ids()))}
		for _, l := range ls {
			cl.FetchBlocks(localhost, svc.Port(), "exec-1", sh.ids(), nil, l)
		}
		for _, l := range ls {
			l.wait(t)
			l.checkOK(t, sh.expected())
		}
		// 24 data files went through the cache: it is full (so it was
		// used, and evicted 22 or more), never past its size.
		if n := svc.res.files.len(); n != 2 {
			t.Errorf("%d files cached, want the cache full at 2", n)
		}
	})
}
