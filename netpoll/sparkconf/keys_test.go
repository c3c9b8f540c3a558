package sparkconf

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestIsKnownKey(t *testing.T) {
	for key, want := range map[string]bool{
		// Ember's and Spark's daemon keys.
		"spark.worker.timeout":                           true,
		"spark.deploy.recoveryMode":                      true,
		"spark.master.ui.port":                           true,
		"spark.shuffle.service.enabled":                  true,
		"spark.shuffle.service.db.backend":               true, // Spark's, unused by Ember: quiet
		"spark.worker.resource.gpu.amount":               true,
		"spark.ui.ember.basicAuth.user":                  true,
		"spark.rpc.io.serverThreads":                     true,
		"spark.shuffle.io.maxRetries":                    true,
		"spark.driver.rpc.io.serverThreads":              true,
		"spark.executor.shuffle.io.ember.maxConnections": true,
		"spark.files.io.threads":                         true,
		// Applications' keys are not Ember's to judge.
		"spark.executor.memory":         true,
		"spark.sql.shuffle.partitions":  true,
		"spark.driver.extraJavaOptions": true,
		"spark.ui.port":                 true,
		"spark.eventLog.enabled":        true,
		"spark.myapp.io.whatever":       true, // not a module Ember has
		"spark.network.timeout":         true,
		// Typos under Ember's namespaces.
		"spark.worker.cleanup.enable":      false,
		"spark.deploy.recoverMode":         false,
		"spark.master.ui.prot":             false,
		"spark.shuffle.service.enable":     false,
		"spark.rpc.io.serverThreds":        false,
		"spark.driver.rpc.io.serverThreds": false,
		"spark.shuffle.io":                 false,
		"spark.ui.ember.basicAuth.pasword": false,
		"spark.authenticate.secrte":        false,
		"spark.ssl.rpc.privatekey":         false,
		"spark.network.crypto.enable":      false,
	} {
		if got := IsKnownKey(key); got != want {
			t.Errorf("IsKnownKey(%q) = %v, want %v", key, got, want)
		}
	}
	RegisterKnownKeys("spark.worker.ember.testOnlyKey")
	if !IsKnownKey("spark.worker.ember.testOnlyKey") {
		t.Error("a registered key is not known")
	}
}

// TestWarnUnknownKeysOnce: each unknown key is reported once per process,
// from whichever Conf first holds it.
func TestWarnUnknownKeysOnce(t *testing.T) {
	var got []string
	warn := func(k string) { got = append(got, k) }
	a := FromMap(map[string]string{"spark.worker.zzTypoA": "1", "spark.deploy.zzTypoB": "2", "spark.executor.memory": "1g"})
	if r := a.WarnUnknownKeys(warn); !reflect.DeepEqual(r, []string{"spark.deploy.zzTypoB", "spark.worker.zzTypoA"}) {
		t.Fatalf("first call reported %v", r)
	}
	b := FromMap(map[string]string{"spark.worker.zzTypoA": "1", "spark.master.zzTypoC": "3"})
	if r := b.WarnUnknownKeys(warn); !reflect.DeepEqual(r, []string{"spark.master.zzTypoC"}) {
		t.Fatalf("second call reported %v", r)
	}
	if r := a.WarnUnknownKeys(warn); len(r) != 0 {
		t.Fatalf("third call reported %v again", r)
	}
	if want := []string{"spark.deploy.zzTypoB", "spark.worker.zzTypoA", "spark.master.zzTypoC"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("warned %v, want %v", got, want)
	}
}

// TestEverySourceKeyIsKnown reads every non-test Go file of the module for
// string literals that are whole spark.* keys under Ember's namespaces and
// checks the registry knows them: a package that reads a new key must add
// it to keys.go (or RegisterKnownKeys it), or operators setting it would be
// told it is unknown.
func TestEverySourceKeyIsKnown(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not at %s: %v", root, err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil // a file another change left broken is not this test's business
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !strings.HasPrefix(s, "spark.") || strings.HasSuffix(s, ".") || strings.ContainsAny(s, " <>%{}=") {
				return true
			}
			checked++
			if !IsKnownKey(s) {
				t.Errorf("%s: key %q is read but unknown to sparkconf.IsKnownKey: add it to knownKeys in netpoll/sparkconf/keys.go (or sparkconf.RegisterKnownKeys it), or daemons warn that it is unknown", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d spark.* literals found: the walk missed the sources", checked)
	}
}
