package scala_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/codec/javaser/scala"
)

const goldenDir = "../testdata/spark-4.1.4"

func table(t testing.TB) *javaser.ClassTable {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "classes.json"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := javaser.ParseClassTable(b)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func read(t testing.TB, name string) any {
	t.Helper()
	v, err := javaser.Unmarshal(golden(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func strs(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func pairs(n int) []scala.Pair {
	out := make([]scala.Pair, n)
	for i := range out {
		out[i] = scala.Pair{Key: fmt.Sprintf("k%d", i), Value: fmt.Sprintf("v%d", i)}
	}
	return out
}

// Values built by the Builder are the bytes the JVM wrote.
func TestBuilderMatchesJVM(t *testing.T) {
	tab := table(t)
	cases := map[string]func(b *scala.Builder) any{
		"none":                   func(b *scala.Builder) any { return b.None() },
		"some-string":            func(b *scala.Builder) any { return b.Some("x") },
		"integer":                func(b *scala.Builder) any { return b.Int(42) },
		"long":                   func(b *scala.Builder) any { return b.Long(1234567890123) },
		"double":                 func(b *scala.Builder) any { return b.Double(2.5) },
		"boolean-true":           func(b *scala.Builder) any { return b.Bool(true) },
		"boolean-false":          func(b *scala.Builder) any { return b.Bool(false) },
		"uri":                    func(b *scala.Builder) any { return b.URI("spark://Master@127.0.0.1:7077") },
		"finite-duration":        func(b *scala.Builder) any { return b.FiniteDuration(1500, "MILLISECONDS") },
		"tuple2":                 func(b *scala.Builder) any { return b.Tuple2("a", b.Int(1)) },
		"executor-state-running": func(b *scala.Builder) any { return b.EnumValue("org.apache.spark.deploy.ExecutorState$", 1) },
		"arrayseq-ref":           func(b *scala.Builder) any { return b.ArraySeq("java.lang.String", "a", "b") },
		"set-3":                  func(b *scala.Builder) any { return b.Set("a", "b", "c") },
		"mutable-hashmap":        func(b *scala.Builder) any { return b.MutableHashMap(scala.Pair{Key: "a", Value: "1"}) },
		"check-existence": func(b *scala.Builder) any {
			return b.New("org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence", "name", "Master")
		},
		"executor-updated-running": func(b *scala.Builder) any {
			return b.New("org.apache.spark.deploy.DeployMessages$ExecutorUpdated", "id", 0,
				"state", b.EnumValue("org.apache.spark.deploy.ExecutorState$", 1),
				"message", b.None(), "exitStatus", b.None(), "workerHost", b.None())
		},
		"executor-updated-exited": func(b *scala.Builder) any {
			return b.New("org.apache.spark.deploy.DeployMessages$ExecutorUpdated", "id", 1,
				"state", b.EnumValue("org.apache.spark.deploy.ExecutorState$", 5),
				"message", b.Some("Command exited with code 0"), "exitStatus", b.Some(b.Int(0)), "workerHost", b.Some("127.0.0.1"))
		},
		"kill-executors": func(b *scala.Builder) any {
			return b.New("org.apache.spark.deploy.DeployMessages$KillExecutors", "appId", "app-20261207080000-0000", "executorIds", b.Strings("1", "2"))
		},
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 40} {
		n := n
		cases[fmt.Sprintf("list-%d", n)] = func(b *scala.Builder) any { return b.List(strs("e", n)...) }
		cases[fmt.Sprintf("vector-%d", n)] = func(b *scala.Builder) any { return b.Vector(strs("e", n)...) }
		if n <= 4 {
			cases[fmt.Sprintf("map-%d", n)] = func(b *scala.Builder) any { return b.Map(pairs(n)...) }
		}
	}
	for name, build := range cases {
		b := scala.NewBuilder(tab)
		v := build(b)
		if err := b.Err(); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := javaser.Marshal(v)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := golden(t, name); !bytes.Equal(got, want) {
			t.Errorf("%s: built value differs from the JVM's\n got %x\nwant %x", name, got, want)
		}
	}
}

// Every collection form reads back to its elements.
func TestReadCollections(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 40} {
		for _, kind := range []string{"list", "vector"} {
			xs, err := scala.Strings(read(t, fmt.Sprintf("%s-%d", kind, n)))
			if err != nil || len(xs) != n {
				t.Errorf("%s-%d: %v %v", kind, n, xs, err)
				continue
			}
			for i, x := range xs {
				if x != fmt.Sprintf("e%d", i) {
					t.Errorf("%s-%d[%d] = %q", kind, n, i, x)
				}
			}
		}
		m, err := scala.StringMap(read(t, fmt.Sprintf("map-%d", n)))
		if err != nil || len(m) != n {
			t.Errorf("map-%d: %v %v", n, m, err)
		}
		for i := 0; i < n; i++ {
			if m[fmt.Sprintf("k%d", i)] != fmt.Sprintf("v%d", i) {
				t.Errorf("map-%d: %v", n, m)
				break
			}
		}
	}
	if s, err := scala.Strings(read(t, "set-3")); err != nil || len(s) != 3 || s[0] != "a" {
		t.Errorf("set-3: %v %v", s, err)
	}
	if s, err := scala.Seq(read(t, "set-40")); err != nil || len(s) != 40 {
		t.Errorf("set-40: %d %v", len(s), err)
	}
	if s, err := scala.Strings(read(t, "arrayseq-ref")); err != nil || len(s) != 2 || s[1] != "b" {
		t.Errorf("arrayseq-ref: %v %v", s, err)
	}
	if s, err := scala.Seq(read(t, "arrayseq-int")); err != nil || len(s) != 3 || s[2] != int32(3) {
		t.Errorf("arrayseq-int: %v %v", s, err)
	}
	if m, err := scala.StringMap(read(t, "mutable-hashmap")); err != nil || m["a"] != "1" {
		t.Errorf("mutable-hashmap: %v %v", m, err)
	}
}

// The Spark messages' Scala parts read back: Options, enumeration values,
// boxed numbers, URIs and durations.
func TestReadSparkShapes(t *testing.T) {
	eu := read(t, "executor-updated-lost").(*javaser.Object)
	st, _ := eu.Get("state")
	mod, id, _, err := scala.EnumValue(st)
	if err != nil || mod != "org.apache.spark.deploy.ExecutorState$" || id != 4 {
		t.Errorf("state: %s %d %v", mod, id, err)
	}
	msg, _ := eu.Get("message")
	if s, ok, err := scala.OptionString(msg); err != nil || !ok || s != "worker lost" {
		t.Errorf("message: %q %v %v", s, ok, err)
	}
	ex, _ := eu.Get("exitStatus")
	if x, ok, err := scala.Option(ex); err != nil || !ok {
		t.Errorf("exitStatus: %v %v", x, err)
	} else if i, err := scala.Int(x); err != nil || i != -1 {
		t.Errorf("exitStatus: %d %v", i, err)
	}
	wh, _ := eu.Get("workerHost")
	if _, ok, err := scala.Option(wh); err != nil || ok {
		t.Errorf("workerHost: %v %v", ok, err)
	}

	ra := read(t, "register-application").(*javaser.Object)
	app, _ := ra.ObjectField("appDescription")
	cmd, _ := app.ObjectField("command")
	args, _ := cmd.Get("arguments")
	if a, err := scala.Strings(args); err != nil || len(a) != 14 || a[0] != "--driver-url" {
		t.Errorf("arguments: %v %v", a, err)
	}
	env, _ := cmd.Get("environment")
	if m, err := scala.StringMap(env); err != nil || m["SPARK_USER"] != "ember" {
		t.Errorf("environment: %v %v", m, err)
	}
	opts, _ := cmd.Get("javaOpts")
	if o, err := scala.Strings(opts); err != nil || len(o) != 4 {
		t.Errorf("javaOpts: %v %v", o, err)
	}
	dir, _ := app.Get("eventLogDir")
	if x, ok, err := scala.Option(dir); err != nil || !ok {
		t.Errorf("eventLogDir: %v", err)
	} else if u, err := scala.URI(x); err != nil || u != "file:/tmp/spark-events" {
		t.Errorf("eventLogDir: %q %v", u, err)
	}
	mc, _ := app.Get("maxCores")
	if x, _, _ := scala.Option(mc); x == nil {
		t.Error("maxCores is None")
	} else if i, err := scala.Int(x); err != nil || i != 4 {
		t.Errorf("maxCores: %d %v", i, err)
	}
	prof, _ := app.ObjectField("defaultProfile")
	er, _ := prof.Get("executorResources")
	res, err := scala.Map(er)
	if err != nil || len(res) != 3 {
		t.Fatalf("executorResources: %v %v", res, err)
	}
	mem := res[1].Value.(*javaser.Object)
	if n, _ := mem.LongField("amount"); n != 1024 {
		t.Errorf("memory amount %d", n)
	}
	drv, _ := ra.ObjectField("driver")
	to, _ := drv.ObjectField("defaultAskTimeout")
	d, _ := to.Get("duration")
	if n, unit, err := scala.FiniteDuration(d); err != nil || n != 120 || unit != "SECONDS" {
		t.Errorf("timeout: %d %s %v", n, unit, err)
	}

	rq := read(t, "request-executors").(*javaser.Object)
	m, _ := rq.Get("resourceProfileToTotalExecs")
	ps, err := scala.Map(m)
	if err != nil || len(ps) != 1 {
		t.Fatalf("resourceProfileToTotalExecs: %v %v", ps, err)
	}
	if n, err := scala.Int(ps[0].Value); err != nil || n != 2 {
		t.Errorf("executors %d %v", n, err)
	}
	if b, err := scala.Bool(read(t, "boolean-true")); err != nil || !b {
		t.Errorf("boolean-true: %v %v", b, err)
	}
}

func TestReadErrors(t *testing.T) {
	_, _, err := scala.Option(nil)
	if !errors.Is(err, javaser.ErrType) {
		t.Errorf("Option(null): %v", err)
	}
	_, err = scala.Seq(read(t, "check-existence"))
	if !errors.Is(err, javaser.ErrType) || !bytes.Contains([]byte(err.Error()), []byte("CheckExistence")) {
		t.Errorf("Seq(CheckExistence): %v", err)
	}
	b := scala.NewBuilder(table(t))
	b.New("org.example.Nope")
	if err := b.Err(); !errors.Is(err, javaser.ErrUnknownClass) {
		t.Errorf("unknown class: %v", err)
	}
	b = scala.NewBuilder(table(t))
	b.New(scala.SomeClass, "nope", 1)
	var fe *javaser.FieldError
	if err := b.Err(); !errors.As(err, &fe) || fe.Field != "nope" {
		t.Errorf("unknown field: %v", err)
	}
}

// Hash maps of more than four entries are written in the given order;
// the JVM reads the same contents back (checked live), and this package
// reads its own output.
func TestBuilderLargeMapReadsBack(t *testing.T) {
	b := scala.NewBuilder(table(t))
	v := b.Map(pairs(40)...)
	out, err := javaser.Marshal(v)
	if err != nil || b.Err() != nil {
		t.Fatal(err, b.Err())
	}
	back, err := javaser.Unmarshal(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scala.StringMap(back)
	if err != nil || len(m) != 40 || m["k39"] != "v39" {
		t.Fatalf("%v %v", m, err)
	}
}
