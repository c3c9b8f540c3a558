package javaser_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
)

const goldenDir = "testdata/spark-4.1.4"

// harness names the golden streams of the harness's own classes (not
// Spark's): an Externalizable, a dynamic proxy and an aborted write.
var harness = map[string]bool{"externalizable": true, "proxy": true, "write-aborted": true}

type golden struct {
	name, class, about, toString string
	data                         []byte
}

// loadGolden reads the index and every stream it names.
func loadGolden(t testing.TB) []golden {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, "index.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []golden
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 4 {
			t.Fatalf("index line %q has %d columns", line, len(p))
		}
		data, err := os.ReadFile(filepath.Join(goldenDir, p[0]+".ser"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, golden{p[0], p[1], p[2], p[3], data})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func goldenBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenObject(t testing.TB, name string) *javaser.Object {
	t.Helper()
	v, err := javaser.Unmarshal(goldenBytes(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	o, ok := v.(*javaser.Object)
	if !ok {
		t.Fatalf("%s: got a %T", name, v)
	}
	return o
}

func loadTable(t testing.TB) *javaser.ClassTable {
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

// Every golden stream is read and written back byte for byte, and the
// index and the files agree.
func TestGoldenRoundTrip(t *testing.T) {
	gs := loadGolden(t)
	if len(gs) < 60 {
		t.Fatalf("only %d golden streams", len(gs))
	}
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.ser"))
	if len(files) != len(gs) {
		t.Fatalf("%d .ser files but %d index lines", len(files), len(gs))
	}
	for _, g := range gs {
		if g.name == "write-aborted" {
			continue // TestGoldenHarnessShapes
		}
		v, err := javaser.Unmarshal(g.data)
		if err != nil {
			t.Errorf("%s: %v", g.name, err)
			continue
		}
		if o, ok := v.(*javaser.Object); ok && g.class == "proxy" && o.Class.Proxy {
			// a dynamic proxy's class has no stable name
		} else if got := className(v); got != g.class {
			// Scala modules and collections are written through a proxy.
			if !strings.HasPrefix(got, "scala.") && !strings.HasPrefix(got, "[") {
				t.Errorf("%s: class %s, index says %s", g.name, got, g.class)
			}
		}
		out, err := javaser.Marshal(v)
		if err != nil {
			t.Errorf("%s: writing back: %v", g.name, err)
			continue
		}
		if !bytes.Equal(out, g.data) {
			t.Errorf("%s: written back differs from the JVM's stream\n got %x\nwant %x", g.name, out, g.data)
		}
		s, err := javaser.ReadStream(g.data)
		if err != nil || len(s.Contents) != 1 {
			t.Errorf("%s: ReadStream: %v (%d contents)", g.name, err, len(s.Contents))
			continue
		}
		out2, err := javaser.WriteStream(s)
		if err != nil || !bytes.Equal(out2, g.data) {
			t.Errorf("%s: WriteStream differs (%v)", g.name, err)
		}
	}
}

func className(v any) string {
	switch v := v.(type) {
	case *javaser.Object:
		return v.ClassName()
	case *javaser.Array:
		return v.Class.Name
	case *javaser.String:
		return "java.lang.String"
	case *javaser.Enum:
		return v.Class.Name
	}
	return ""
}

// Every descriptor in every golden stream matches the committed class
// table: same SUID, flags, fields and superclass.
func TestGoldenDescriptorsMatchTable(t *testing.T) {
	tab := loadTable(t)
	if tab.Spark != "4.1.4" || !strings.HasPrefix(tab.Scala, "2.13.") {
		t.Fatalf("table for Spark %q Scala %q", tab.Spark, tab.Scala)
	}
	seen := map[string]bool{}
	for _, g := range loadGolden(t) {
		if harness[g.name] {
			continue
		}
		v, err := javaser.Unmarshal(g.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.CheckAll(v); err != nil {
			t.Errorf("%s: %v", g.name, err)
		}
		walkDescs(v, func(d *javaser.ClassDesc) {
			if seen[d.Name] {
				return
			}
			seen[d.Name] = true
			want, err := tab.Desc(d.Name)
			if err != nil {
				t.Errorf("%s: %v", g.name, err)
				return
			}
			if want.Flags != d.Flags || len(want.Fields) != len(d.Fields) || (want.Super == nil) != (d.Super == nil) {
				t.Errorf("%s: descriptor %s differs from the table: stream flags %#x fields %v, table flags %#x fields %v",
					g.name, d.Name, d.Flags, d.Fields, want.Flags, want.Fields)
				return
			}
			for i := range d.Fields {
				if d.Fields[i] != want.Fields[i] {
					t.Errorf("%s: %s field %d: stream %v, table %v", g.name, d.Name, i, d.Fields[i], want.Fields[i])
				}
			}
		})
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d classes in the golden streams", len(names))
}

func walkDescs(v any, f func(*javaser.ClassDesc)) {
	seen := map[any]bool{}
	var desc func(d *javaser.ClassDesc)
	desc = func(d *javaser.ClassDesc) {
		for ; d != nil; d = d.Super {
			f(d)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case *javaser.Object:
			if seen[v] {
				return
			}
			seen[v] = true
			desc(v.Class)
			for _, cd := range v.Data {
				for _, x := range cd.Values {
					walk(x)
				}
				for _, x := range cd.Annotation {
					walk(x)
				}
			}
		case *javaser.Array:
			if seen[v] {
				return
			}
			seen[v] = true
			desc(v.Class)
			if xs, ok := v.Elems.([]any); ok {
				for _, x := range xs {
					walk(x)
				}
			}
		case *javaser.ClassObject:
			desc(v.Desc)
		case *javaser.Enum:
			desc(v.Class)
		}
	}
	walk(v)
}

func field(t *testing.T, o *javaser.Object, path ...string) any {
	t.Helper()
	var v any = o
	for _, p := range path {
		obj, ok := v.(*javaser.Object)
		if !ok {
			t.Fatalf("%v: %s is not an object field of a %T", path, p, v)
		}
		x, err := obj.Field(p)
		if err != nil {
			t.Fatal(err)
		}
		v = x
	}
	return v
}

func str(t *testing.T, v any) string {
	t.Helper()
	s, ok := javaser.AsString(v)
	if !ok {
		t.Fatalf("%T is not a string", v)
	}
	return s
}

// Decoded field values of the key messages.
func TestGoldenValues(t *testing.T) {
	if o := goldenObject(t, "boolean-true"); o.ClassName() != "java.lang.Boolean" || field(t, o, "value") != true {
		t.Errorf("boolean-true: %s", javaser.Format(o))
	}
	ce := goldenObject(t, "check-existence")
	if n, err := ce.StringField("name"); err != nil || n != "Master" || ce.ClassName() != "org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence" {
		t.Errorf("check-existence: %q %v", n, err)
	}

	ra := goldenObject(t, "register-application")
	if got := str(t, field(t, ra, "appDescription", "name")); got != "Spark Pi" {
		t.Errorf("app name %q", got)
	}
	if got := str(t, field(t, ra, "appDescription", "command", "mainClass")); got != "org.apache.spark.executor.CoarseGrainedExecutorBackend" {
		t.Errorf("main class %q", got)
	}
	if got := str(t, field(t, ra, "driver", "endpointAddress", "toString")); got != "spark://AppClient@127.0.0.1:40123" {
		t.Errorf("driver address %q", got)
	}
	if got := field(t, ra, "driver", "endpointAddress", "rpcAddress", "port"); got != int32(40123) {
		t.Errorf("driver port %v", got)
	}
	if got := field(t, ra, "driver", "defaultAskTimeout", "duration", "length"); got != int64(120) {
		t.Errorf("ask timeout length %v", got)
	}
	unit, ok := field(t, ra, "driver", "defaultAskTimeout", "duration", "unit").(*javaser.Enum)
	if !ok || unit.Name.Value != "SECONDS" || unit.Class.Name != "java.util.concurrent.TimeUnit" {
		t.Errorf("ask timeout unit %v", unit)
	}
	if got := str(t, field(t, ra, "driver", "defaultAskTimeout", "timeoutProp")); got != "spark.rpc.askTimeout" {
		t.Errorf("timeout prop %q", got)
	}
	ref := field(t, ra, "driver").(*javaser.Object)
	if ref.Class.Flags&javaser.SCWriteMethod == 0 || ref.Class.Super == nil || ref.Class.Super.Name != "org.apache.spark.rpc.RpcEndpointRef" {
		t.Errorf("NettyRpcEndpointRef descriptor: %+v", ref.Class)
	}
	if got := field(t, ra, "appDescription", "defaultProfile", "_id"); got != int32(0) {
		t.Errorf("default profile id %v", got)
	}

	eu := goldenObject(t, "executor-updated-exited")
	if id, _ := eu.IntField("id"); id != 1 {
		t.Errorf("executor id %d", id)
	}
	// ExecutorState: LAUNCHING, RUNNING, KILLED, FAILED, LOST, EXITED, DECOMMISSIONED.
	if got := field(t, eu, "state", "i"); got != int32(5) {
		t.Errorf("EXITED id %v", got)
	}
	if got := field(t, eu, "state", "scala$Enumeration$$outerEnum", "moduleClass").(*javaser.ClassObject).Desc.Name; got != "org.apache.spark.deploy.ExecutorState$" {
		t.Errorf("enumeration %s", got)
	}
}

// The string golden holds NUL and a character outside the BMP, both in
// Java's modified UTF-8.
func TestGoldenModifiedUTF8(t *testing.T) {
	v, err := javaser.Unmarshal(goldenBytes(t, "string"))
	if err != nil {
		t.Fatal(err)
	}
	if got := str(t, v); got != "a\x00b\u00e9\U0001F600" {
		t.Errorf("got %q", got)
	}
}

func TestUnknownClassError(t *testing.T) {
	tab := loadTable(t)
	_, err := tab.Desc("org.apache.spark.deploy.DeployMessages$NoSuchMessage")
	if !errors.Is(err, javaser.ErrUnknownClass) || !strings.Contains(err.Error(), "NoSuchMessage") || !strings.Contains(err.Error(), "Spark 4.1.4") {
		t.Fatalf("error %v", err)
	}
	o := goldenObject(t, "check-existence")
	o.Class.SUID++
	err = tab.CheckAll(o)
	if !errors.Is(err, javaser.ErrSUIDMismatch) || !strings.Contains(err.Error(), "CheckExistence") || !strings.Contains(err.Error(), "Spark 4.1.4") {
		t.Fatalf("error %v", err)
	}
}

// The harness streams: an Externalizable's block-data content, a dynamic
// proxy's descriptor, and an aborted write, which the reader refuses as
// the JVM does and the writer reproduces byte for byte.
func TestGoldenHarnessShapes(t *testing.T) {
	ext := goldenObject(t, "externalizable")
	if ext.Class.Flags != javaser.SCExternalizable|javaser.SCBlockData || len(ext.External) != 3 {
		t.Fatalf("externalizable: %s", javaser.Format(ext))
	}
	if bd, ok := ext.External[0].(javaser.BlockData); !ok || !bytes.Equal(bd, []byte{0, 0, 0, 7, 0, 3, 'e', 'x', 't'}) {
		t.Errorf("externalizable block %v", ext.External[0])
	}
	if e, ok := ext.External[1].(*javaser.Enum); !ok || e.Name.Value != "MINUTES" {
		t.Errorf("externalizable enum %v", ext.External[1])
	}

	px := goldenObject(t, "proxy")
	if !px.Class.Proxy || len(px.Class.Interfaces) != 1 || px.Class.Interfaces[0] != "java.lang.Runnable" ||
		px.Class.Super == nil || px.Class.Super.Name != "java.lang.reflect.Proxy" {
		t.Fatalf("proxy: %+v", px.Class)
	}
	h, err := px.ObjectField("h")
	if err != nil || h == nil {
		t.Fatalf("proxy handler: %v", err)
	}
	if tag, _ := h.StringField("tag"); tag != "handler" {
		t.Errorf("handler tag %q", tag)
	}

	data := goldenBytes(t, "write-aborted")
	_, err = javaser.Unmarshal(data)
	var je *javaser.Error
	if !errors.As(err, &je) || !errors.Is(err, javaser.ErrWriteAborted) || je.Thrown == nil ||
		je.Thrown.ClassName() != "java.io.NotSerializableException" {
		t.Fatalf("write-aborted: %v", err)
	}
	if msg, _ := je.Thrown.StringField("detailMessage"); msg != "java.lang.Object" {
		t.Errorf("aborted with %q", msg)
	}
	ad, err := loadTable(t).Desc("[Ljava.lang.Object;")
	if err != nil {
		t.Fatal(err)
	}
	out, err := javaser.Marshal(&javaser.Array{Class: ad, Elems: []any{"partial", &javaser.Exception{Throwable: je.Thrown}}})
	if err != nil || !bytes.Equal(out, data) {
		t.Errorf("writing an aborted stream: %v\n got %x\nwant %x", err, out, data)
	}
}
