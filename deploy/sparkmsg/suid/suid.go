// Package suid holds the class tables of the Spark releases Ember speaks
// to: for every class Ember writes or reads in Spark's RPC messages, the
// serialVersionUID, stream flags, fields and superclass that
// ObjectStreamClass computes from that release's jars. Spark declares no
// serialVersionUIDs, so they change with every release; the tables are
// data, one file per release (spark-<version>.json), loaded into a
// javaser.ClassTable.
//
// Supporting a new Spark 4.x release needs only a new table: with that
// release installed (SPARK_HOME, or scripts/spark.sh),
//
//	go test ./deploy/sparkmsg/suid -run TestLiveTable -update
//
// writes spark-<version>.json from internal/interop/jvm/javaser's
// SuidTable program; without -update the test fails when the committed
// table differs from the installed jars.
//
// Tables are parsed once and shared; they are safe for concurrent use.
package suid

import (
	"embed"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ember-rpc/ember/codec/javaser"
)

// DefaultVersion is the Spark release Ember targets by default.
const DefaultVersion = "4.1.4"

//go:embed spark-*.json
var files embed.FS

var (
	mu     sync.Mutex
	parsed = map[string]*javaser.ClassTable{}
)

// Versions lists the Spark releases with a committed table.
func Versions() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "spark-") && strings.HasSuffix(n, ".json") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(n, "spark-"), ".json"))
		}
	}
	sort.Strings(out)
	return out
}

// Load returns the class table of a Spark release ("4.1.4").
func Load(version string) (*javaser.ClassTable, error) {
	mu.Lock()
	defer mu.Unlock()
	if t, ok := parsed[version]; ok {
		return t, nil
	}
	b, err := files.ReadFile("spark-" + version + ".json")
	if err != nil {
		return nil, fmt.Errorf("suid: no class table for Spark %s (have %s); generate one with the live test's -update flag", version, strings.Join(Versions(), ", "))
	}
	t, err := javaser.ParseClassTable(b)
	if err != nil {
		return nil, err
	}
	if t.Spark != version {
		return nil, fmt.Errorf("suid: spark-%s.json holds the table of Spark %s", version, t.Spark)
	}
	parsed[version] = t
	return t, nil
}

// Default returns the table of DefaultVersion.
func Default() (*javaser.ClassTable, error) { return Load(DefaultVersion) }
