package sparkconf

import (
	"errors"
	"reflect"
	"testing"
)

func TestSplitOptionString(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"-Da=1 -Db=2", []string{"-Da=1", "-Db=2"}},
		{"  -Da=1\t\n-Db=2  ", []string{"-Da=1", "-Db=2"}},
		{`-Dspark.deploy.zookeeper.url="zk1:2181, zk2:2181"`, []string{"-Dspark.deploy.zookeeper.url=zk1:2181, zk2:2181"}},
		{`'-Dx=a b' -Dy`, []string{"-Dx=a b", "-Dy"}},
		{`-Dx='it"s' -Dy="it's"`, []string{`-Dx=it"s`, "-Dy=it's"}},
		{`-Dx=a\ b -Dy=\"q\"`, []string{"-Dx=a b", `-Dy="q"`}},
		{`-Dx='a\b'`, []string{`-Dx=a\b`}},  // no escapes inside single quotes
		{`-Dx="a\"b"`, []string{`-Dx=a"b`}}, // escapes inside double quotes
		{`"" -Dy`, []string{"", "-Dy"}},     // an empty quoted option
		{`-Dx=ü€`, []string{"-Dx=ü€"}},      // UTF-8 kept
		{`a"b c"d`, []string{"ab cd"}},      // quotes inside a word
	} {
		got, err := SplitOptionString(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitOptionString(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`-Dx="open`, `-Dx='open`, `trailing\`} {
		if got, err := SplitOptionString(bad); !errors.Is(err, ErrOptionString) {
			t.Errorf("SplitOptionString(%q) = %q, %v; want ErrOptionString", bad, got, err)
		}
	}
}

func TestSystemProperties(t *testing.T) {
	got, err := SystemProperties(
		`-Xmx1g -Dspark.deploy.recoveryMode=ZOOKEEPER -Dspark.deploy.zookeeper.url="zk1:2181,zk2:2181" -Dother=1`,
		`-Dspark.deploy.recoveryMode=FILESYSTEM -Dspark.flag -Dspark.eq=a=b -XX:+UseG1GC`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"spark.deploy.recoveryMode":  "FILESYSTEM", // the later string wins
		"spark.deploy.zookeeper.url": "zk1:2181,zk2:2181",
		"spark.flag":                 "",
		"spark.eq":                   "a=b",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SystemProperties = %v, want %v", got, want)
	}
	if _, err := SystemProperties("-Dspark.a=1", `-Dspark.b="x`); !errors.Is(err, ErrOptionString) {
		t.Fatalf("unbalanced quote: err %v", err)
	}
}

func FuzzSplitOptionString(f *testing.F) {
	for _, s := range []string{"", "-Da=1 -Db=2", `'a b' "c d" e\ f`, `"open`, `x\`, `a"b c"d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := SplitOptionString(s)
		if err != nil {
			return
		}
		if _, err := SystemProperties(s); err != nil {
			t.Fatalf("SystemProperties failed where SplitOptionString did not: %v", err)
		}
		for _, o := range opts {
			if len(o) > len(s) {
				t.Fatalf("option %q longer than its input %q", o, s)
			}
		}
	})
}
