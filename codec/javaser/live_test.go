package javaser_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/internal/testutil"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/spark-<version> from the installed Spark")

// javaKit compiles the Java programs under internal/interop/jvm/javaser.
func javaKit(t *testing.T) (home, java, classes string) {
	home, java = testutil.RequireSpark(t)
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	return home, java, testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "javaser"))
}

func runJava(t *testing.T, home, java, classes, main string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, main, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", main, err, stderr.String())
	}
	return out
}

// TestLiveGoldenStreams regenerates the golden streams with the installed
// Spark and checks the committed ones are identical (-update-golden
// rewrites them).
func TestLiveGoldenStreams(t *testing.T) {
	home, java, classes := javaKit(t)
	dir := t.TempDir()
	runJava(t, home, java, classes, "ember.interop.javaser.Capture", dir)
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) < 60 {
		t.Fatalf("capture wrote %d files (%v)", len(files), err)
	}
	if *updateGolden {
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if err := os.WriteFile(filepath.Join(goldenDir, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("rewrote %d files in %s", len(files), goldenDir)
		return
	}
	committed, _ := filepath.Glob(filepath.Join(goldenDir, "*.ser"))
	if len(committed)+1 != len(files) { // + index.tsv
		t.Errorf("capture wrote %d files, %d streams are committed", len(files), len(committed))
	}
	for _, f := range files {
		got, _ := os.ReadFile(f)
		want, err := os.ReadFile(filepath.Join(goldenDir, filepath.Base(f)))
		if err != nil {
			t.Errorf("%s is not committed", filepath.Base(f))
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the installed Spark writes other bytes than the committed golden", filepath.Base(f))
		}
	}
}

// TestLiveJVMReadsEmberStreams is the proof: the JVM's ObjectInputStream,
// with Spark 4.1.4's classes, reads the messages Ember builds, prints the
// same toString as for its own objects, and writes back exactly the bytes
// it writes for its own objects.
func TestLiveJVMReadsEmberStreams(t *testing.T) {
	home, java, classes := javaKit(t)
	objs, _, err := sparkObjects(loadTable(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for name, v := range objs {
		b, err := javaser.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := filepath.Join(dir, name+".ser")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out := runJava(t, home, java, classes, "ember.interop.javaser.ReadBack", files...)
	want := map[string]golden{}
	for _, g := range loadGolden(t) {
		want[g.name] = g
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) < 3 {
			continue
		}
		name := p[0]
		g, ok := want[name]
		if !ok {
			t.Errorf("unexpected line %q", sc.Text())
			continue
		}
		seen++
		if p[1] == "ERROR" {
			t.Errorf("%s: the JVM could not read Ember's stream: %s", name, p[2])
			continue
		}
		if p[1] != g.class {
			t.Errorf("%s: the JVM read a %s, want %s", name, p[1], g.class)
		}
		if p[2] != g.toString {
			t.Errorf("%s: the JVM read\n%s\nfrom Ember's stream; from its own\n%s", name, p[2], g.toString)
		}
		back, err := hex.DecodeString(p[3])
		if err != nil || !bytes.Equal(back, g.data) {
			t.Errorf("%s: what the JVM read from Ember's stream writes back other bytes than its own object", name)
		}
	}
	if seen != len(objs) {
		t.Fatalf("the JVM answered for %d of %d streams:\n%s", seen, len(objs), out)
	}
	t.Logf("the JVM read %d Ember-built streams", seen)
}
