package scala_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/codec/javaser/scala"
)

// FuzzScalaReaders runs every reader over whatever a stream decodes to,
// and over every object inside it: errors are fine, panics are not.
func FuzzScalaReaders(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.ser"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := javaser.Unmarshal(b, javaser.WithMaxAlloc(1<<20))
		if err != nil {
			return
		}
		seen := map[*javaser.Object]bool{}
		var walk func(v any, depth int)
		walk = func(v any, depth int) {
			if depth > 50 {
				return
			}
			if o, ok := v.(*javaser.Object); ok && o != nil {
				if seen[o] {
					return
				}
				seen[o] = true
				for _, cd := range o.Data {
					for _, x := range cd.Values {
						walk(x, depth+1)
					}
					for _, x := range cd.Annotation {
						walk(x, depth+1)
					}
				}
			}
			_, _, _ = scala.Option(v)
			_, _ = scala.Seq(v)
			_, _ = scala.Map(v)
			_, _ = scala.StringMap(v)
			_, _ = scala.Strings(v)
			_, _, _, _ = scala.EnumValue(v)
			_, _, _ = scala.FiniteDuration(v)
			_, _ = scala.URI(v)
			_, _ = scala.Int(v)
			_, _ = scala.Long(v)
			_, _ = scala.Bool(v)
			_, _ = scala.Double(v)
			_, _, _ = scala.Tuple2(v)
		}
		walk(v, 0)
	})
}
