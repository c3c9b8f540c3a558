package shuffle_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/shuffle"
)

// Fetching a shuffle block from an Ember shuffle service: an executor's
// map output is written in Spark's sort-shuffle layout, the executor is
// registered with the service, and a reducer fetches its partitions.
func Example_fetchBlock() {
	dir, err := os.MkdirTemp("", "ember-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	localDir := filepath.Join(dir, "blockmgr-0")
	if err := os.Mkdir(localDir, 0o755); err != nil {
		log.Fatal(err)
	}

	// Map task 7 of shuffle 0 writes two reduce partitions.
	w, err := shuffle.NewMapOutputWriter([]string{localDir}, 4, 0, 7)
	if err != nil {
		log.Fatal(err)
	}
	for _, part := range []string{"apples", "pears"} {
		if err := w.WritePartition(strings.NewReader(part)); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		log.Fatal(err)
	}

	svc, err := shuffle.NewService(shuffle.ServiceConfig{Host: "127.0.0.1", Port: 0})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	cl, err := shuffle.NewClient(shuffle.ClientConfig{AppID: "app-1", TmpDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	info := shuffle.ExecutorShuffleInfo{LocalDirs: []string{localDir}, SubDirsPerLocalDir: 4,
		ShuffleManager: shuffle.SortShuffleManager}
	if err := cl.RegisterWithShuffleServer("127.0.0.1", svc.Port(), "exec-1", info); err != nil {
		log.Fatal(err)
	}
	req := shuffle.FetchRequest{Host: "127.0.0.1", Port: svc.Port(), ExecID: "exec-1",
		Blocks: []shuffle.BlockInfo{{ID: "shuffle_0_7_1", Size: 5}}}
	err = cl.FetchAll(context.Background(), []shuffle.FetchRequest{req}, func(id string, data codec.ManagedBuffer) error {
		b, err := data.Bytes() // valid during the call
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s\n", id, b)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: shuffle_0_7_1: pears
}
