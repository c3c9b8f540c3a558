package transport

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// TestGolden41Regenerate runs the golden vector generator
// (internal/interop/jvm/golden) with the installed Spark and checks that
// the committed vectors, which codec/golden41_test.go and
// shuffle/golden41_test.go check without Spark, are exactly what Spark's
// own encoders write.
func TestGolden41Regenerate(t *testing.T) {
	home, java := testutil.RequireSpark(t)
	classes := testutil.CompileJava(t, home, javaDir(t, "golden"))
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.interop.golden.Generate",
		filepath.Join(out, "codec"), filepath.Join(out, "shuffle"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	for _, pkg := range []string{"codec", "shuffle"} {
		t.Run(pkg, func(t *testing.T) {
			committed := filepath.Join(root, pkg, "testdata", "spark41")
			fresh := filepath.Join(out, pkg)
			want, got := listDir(t, committed), listDir(t, fresh)
			if !slices.Equal(want, got) {
				t.Fatalf("Spark wrote %v, %s holds %v", got, committed, want)
			}
			for _, name := range want {
				a, err := os.ReadFile(filepath.Join(committed, name))
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(fresh, name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("%s/%s differs from what Spark writes now:\n committed %q\n spark     %q", committed, name, a, b)
				}
			}
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
