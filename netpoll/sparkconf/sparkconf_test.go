package sparkconf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		defUnit time.Duration
		want    time.Duration
		wantErr error // sentinel expected via errors.Is; nil means success
	}{
		{"120s", time.Second, 120 * time.Second, nil},
		{"5m", time.Second, 5 * time.Minute, nil},
		{"5min", time.Second, 5 * time.Minute, nil},
		{"100ms", time.Second, 100 * time.Millisecond, nil},
		{"1h", time.Second, time.Hour, nil},
		{"2d", time.Second, 48 * time.Hour, nil},
		{"10us", time.Second, 10 * time.Microsecond, nil},
		{"30", time.Second, 30 * time.Second, nil},
		{"30", time.Millisecond, 30 * time.Millisecond, nil},
		{" 7s ", time.Second, 7 * time.Second, nil},
		{"\t7s\n", time.Second, 7 * time.Second, nil},
		{"10S", time.Second, 10 * time.Second, nil},
		{"3MS", time.Second, 3 * time.Millisecond, nil},
		{"2Min", time.Second, 2 * time.Minute, nil},
		{"0", time.Second, 0, nil},
		{"-0s", time.Second, 0, nil},
		{"-1", time.Second, -time.Second, nil},
		{"-1s", time.Second, -time.Second, nil},
		{"-250ms", time.Second, -250 * time.Millisecond, nil},
		{"007s", time.Second, 7 * time.Second, nil},
		{"106751d", time.Second, 106751 * 24 * time.Hour, nil},
		{"9223372036854775us", time.Second, 9223372036854775 * time.Microsecond, nil},

		{"abc", time.Second, 0, ErrSyntax},
		{"", time.Second, 0, ErrSyntax},
		{"   ", time.Second, 0, ErrSyntax},
		{"s", time.Second, 0, ErrSyntax},
		{"-", time.Second, 0, ErrSyntax},
		{"--1s", time.Second, 0, ErrSyntax},
		{"+1s", time.Second, 0, ErrSyntax},
		{"1.5s", time.Second, 0, ErrSyntax},
		{"10 s", time.Second, 0, ErrSyntax},
		{"1s2", time.Second, 0, ErrSyntax},
		{"1_000s", time.Second, 0, ErrSyntax},
		{"10x", time.Second, 0, ErrUnit},
		{"10ns", time.Second, 0, ErrUnit},
		{"10sec", time.Second, 0, ErrUnit},
		{"106752d", time.Second, 0, ErrRange},
		{"99999999999999999999s", time.Second, 0, ErrRange},
		{"9223372036854775808", time.Nanosecond, 0, ErrRange},
		{"1", 0, 0, ErrDefaultUnit},
		{"1s", -time.Second, 0, ErrDefaultUnit},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%v", tt.in, tt.defUnit), func(t *testing.T) {
			got, err := ParseDuration(tt.in, tt.defUnit)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseDuration(%q) error: %v", tt.in, err)
				}
				if got != tt.want {
					t.Fatalf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want error %v", tt.in, got, tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseDuration(%q) error %v, want errors.Is %v", tt.in, err, tt.wantErr)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Value != tt.in || pe.Key != "" {
				t.Fatalf("ParseDuration(%q) error %#v, want *Error with Value set and no Key", tt.in, err)
			}
		})
	}
}

func TestParseDurationExtremes(t *testing.T) {
	// time.Duration can hold exactly math.MinInt64 nanoseconds but not its negation.
	got, err := ParseDuration("-9223372036854775808", time.Nanosecond)
	if err != nil || got != math.MinInt64 {
		t.Fatalf("min duration: got %v, %v", got, err)
	}
	got, err = ParseDuration("9223372036854775807", time.Nanosecond)
	if err != nil || got != math.MaxInt64 {
		t.Fatalf("max duration: got %v, %v", got, err)
	}
	if _, err := ParseDuration("-9223372036854775809", time.Nanosecond); !errors.Is(err, ErrRange) {
		t.Fatalf("below min duration: got %v, want ErrRange", err)
	}
}

func TestParseBytes(t *testing.T) {
	const (
		kib = int64(1) << 10
		mib = int64(1) << 20
		gib = int64(1) << 30
		tib = int64(1) << 40
		pib = int64(1) << 50
	)
	tests := []struct {
		in      string
		defUnit int64
		want    int64
		wantErr error
	}{
		{"64k", 1, 64 * kib, nil},
		{"64kb", 1, 64 * kib, nil},
		{"2m", 1, 2 * mib, nil},
		{"2mb", 1, 2 * mib, nil},
		{"2M", 1, 2 * mib, nil},
		{"2MB", 1, 2 * mib, nil},
		{"2Mb", 1, 2 * mib, nil},
		{"48m", 1, 48 * mib, nil},
		{"1g", 1, gib, nil},
		{"1GB", 1, gib, nil},
		{"1t", 1, tib, nil},
		{"1tb", 1, tib, nil},
		{"3p", 1, 3 * pib, nil},
		{"3pb", 1, 3 * pib, nil},
		{"512b", mib, 512, nil},
		{"512B", mib, 512, nil},
		{"100", 1, 100, nil},
		{"100", kib, 100 * kib, nil},
		{"100", mib, 100 * mib, nil},
		{" 32k ", 1, 32 * kib, nil},
		{"0", mib, 0, nil},
		{"8191p", 1, 8191 * pib, nil},
		{"9223372036854775807", 1, math.MaxInt64, nil},

		{"1x", 1, 0, ErrUnit},
		{"1kib", 1, 0, ErrUnit},
		{"abc", 1, 0, ErrSyntax},
		{"", 1, 0, ErrSyntax},
		{"k", 1, 0, ErrSyntax},
		{"-1", 1, 0, ErrSyntax},
		{"-1k", 1, 0, ErrSyntax},
		{"1.5g", 1, 0, ErrSyntax},
		{"1 k", 1, 0, ErrSyntax},
		{"8192p", 1, 0, ErrRange},
		{"9223372036854775808", 1, 0, ErrRange},
		{"9007199254740992", kib, 0, ErrRange},
		{"1", 0, 0, ErrDefaultUnit},
		{"1", -1, 0, ErrDefaultUnit},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d", tt.in, tt.defUnit), func(t *testing.T) {
			got, err := ParseBytes(tt.in, tt.defUnit)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseBytes(%q) error: %v", tt.in, err)
				}
				if got != tt.want {
					t.Fatalf("ParseBytes(%q) = %d, want %d", tt.in, got, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseBytes(%q) = %d, %v; want errors.Is %v", tt.in, got, err, tt.wantErr)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Value != tt.in {
				t.Fatalf("ParseBytes(%q) error %#v, want *Error", tt.in, err)
			}
		})
	}
}

func TestGetBool(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		def     bool
		want    bool
		wantErr bool
	}{
		{set: false, def: true, want: true},
		{set: false, def: false, want: false},
		{value: "true", set: true, def: false, want: true},
		{value: "TRUE", set: true, def: false, want: true},
		{value: "True", set: true, def: false, want: true},
		{value: " true ", set: true, def: false, want: true},
		{value: "false", set: true, def: true, want: false},
		{value: "FaLsE", set: true, def: true, want: false},
		{value: "yes", set: true, def: true, want: true, wantErr: true},
		{value: "1", set: true, def: false, want: false, wantErr: true},
		{value: "", set: true, def: true, want: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/set=%v/def=%v", tt.value, tt.set, tt.def), func(t *testing.T) {
			c := New()
			if tt.set {
				c.Set("spark.x.enabled", tt.value)
			}
			got, err := c.GetBool("spark.x.enabled", tt.def)
			if (err != nil) != tt.wantErr {
				t.Fatalf("GetBool error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrSyntax) {
				t.Fatalf("GetBool error %v does not wrap ErrSyntax", err)
			}
			if got != tt.want {
				t.Fatalf("GetBool = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGetInt(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		def     int
		want    int
		wantErr error
	}{
		{set: false, def: 8, want: 8},
		{value: "42", set: true, def: 8, want: 42},
		{value: " 42 ", set: true, def: 8, want: 42},
		{value: "-3", set: true, def: 8, want: -3},
		{value: "+3", set: true, def: 8, want: 3},
		{value: "0", set: true, def: 8, want: 0},
		{value: "4x", set: true, def: 8, want: 8, wantErr: ErrSyntax},
		{value: "1.0", set: true, def: 8, want: 8, wantErr: ErrSyntax},
		{value: "0x10", set: true, def: 8, want: 8, wantErr: ErrSyntax},
		{value: "", set: true, def: 8, want: 8, wantErr: ErrSyntax},
		{value: "99999999999999999999", set: true, def: 8, want: 8, wantErr: ErrRange},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/set=%v", tt.value, tt.set), func(t *testing.T) {
			c := New()
			if tt.set {
				c.Set("spark.rpc.numRetries", tt.value)
			}
			got, err := c.GetInt("spark.rpc.numRetries", tt.def)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("GetInt error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("GetInt = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestGetInt64(t *testing.T) {
	tests := []struct {
		value   string
		want    int64
		wantErr error
	}{
		{"9223372036854775807", math.MaxInt64, nil},
		{"-9223372036854775808", math.MinInt64, nil},
		{"9223372036854775808", -1, ErrRange},
		{"seven", -1, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c := New().Set("k", tt.value)
			got, err := c.GetInt64("k", -1)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("GetInt64 error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("GetInt64 = %d, want %d", got, tt.want)
			}
		})
	}
	if got, err := New().GetInt64("missing", 77); got != 77 || err != nil {
		t.Fatalf("GetInt64 missing = %d, %v", got, err)
	}
}

func TestGetDurationAndBytes(t *testing.T) {
	c := FromMap(map[string]string{
		"spark.rpc.askTimeout":           "30",
		"spark.network.timeout":          "2m",
		"spark.rpc.message.maxSize":      "256",
		"spark.shuffle.io.receiveBuffer": "64k",
		"spark.bad.timeout":              "soon",
		"spark.bad.size":                 "lots",
	})
	tests := []struct {
		name string
		got  func() (int64, error)
		want int64
		err  bool
	}{
		{"bare duration uses defUnit", func() (int64, error) {
			d, err := c.GetDuration("spark.rpc.askTimeout", time.Minute, time.Second)
			return int64(d), err
		}, int64(30 * time.Second), false},
		{"suffix overrides defUnit", func() (int64, error) {
			d, err := c.GetDuration("spark.network.timeout", time.Minute, time.Millisecond)
			return int64(d), err
		}, int64(2 * time.Minute), false},
		{"missing duration gives def", func() (int64, error) {
			d, err := c.GetDuration("spark.missing", 120*time.Second, time.Second)
			return int64(d), err
		}, int64(120 * time.Second), false},
		{"bad duration gives def and error", func() (int64, error) {
			d, err := c.GetDuration("spark.bad.timeout", 5*time.Second, time.Second)
			return int64(d), err
		}, int64(5 * time.Second), true},
		{"bare bytes uses defUnit", func() (int64, error) {
			return c.GetBytes("spark.rpc.message.maxSize", 128<<20, 1<<20)
		}, 256 << 20, false},
		{"bytes suffix", func() (int64, error) {
			return c.GetBytes("spark.shuffle.io.receiveBuffer", -1, 1)
		}, 64 << 10, false},
		{"missing bytes gives def", func() (int64, error) {
			return c.GetBytes("spark.missing", 1024, 1)
		}, 1024, false},
		{"bad bytes gives def and error", func() (int64, error) {
			return c.GetBytes("spark.bad.size", 1024, 1)
		}, 1024, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if (err != nil) != tt.err {
				t.Fatalf("error = %v, want error %v", err, tt.err)
			}
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.Key == "" {
					t.Fatalf("error %v is not an *Error with a Key", err)
				}
			}
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestErrorFormatting(t *testing.T) {
	c := New().Set("spark.rpc.askTimeout", "abc")
	_, err := c.GetDuration("spark.rpc.askTimeout", time.Minute, time.Second)
	if err == nil {
		t.Fatal("expected an error")
	}
	const prefix = `sparkconf: invalid value "abc" for spark.rpc.askTimeout: `
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("Error() = %q, want prefix %q", err.Error(), prefix)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As(%T) failed", err)
	}
	if pe.Key != "spark.rpc.askTimeout" || pe.Value != "abc" {
		t.Fatalf("Error fields = %+v", pe)
	}
	if !errors.Is(err, ErrSyntax) || errors.Unwrap(err) != pe.Err {
		t.Fatalf("Unwrap chain broken: %v", err)
	}

	// Wrapped further by a caller, the *Error is still reachable.
	wrapped := fmt.Errorf("starting transport: %w", err)
	pe = nil
	if !errors.As(wrapped, &pe) || pe.Key != "spark.rpc.askTimeout" {
		t.Fatalf("errors.As through a wrapper failed: %v", wrapped)
	}

	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Key: "spark.k", Value: "v", Err: errors.New("why")}, `sparkconf: invalid value "v" for spark.k: why`},
		{&Error{Value: "v", Err: errors.New("why")}, `sparkconf: invalid value "v": why`},
		{&Error{Key: "spark.k", Value: "a\"b\n"}, `sparkconf: invalid value "a\"b\n" for spark.k`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}

	_, err = ParseBytes("1x", 1)
	if want := `sparkconf: invalid value "1x": unknown unit suffix "x"`; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("ParseBytes error = %q, want prefix %q", err, want)
	}
}

func TestModuleLookup(t *testing.T) {
	c := FromMap(map[string]string{
		"spark.rpc.io.serverThreads":         "8",
		"spark.driver.rpc.io.serverThreads":  "16",
		"spark.rpc.io.clientThreads":         "4",
		"spark.executor.shuffle.io.numConns": "3",
	})
	tests := []struct {
		role, module, suffix string
		wantKey, wantValue   string
		wantOK               bool
	}{
		{"driver", "rpc", "serverThreads", "spark.driver.rpc.io.serverThreads", "16", true},
		{"executor", "rpc", "serverThreads", "spark.rpc.io.serverThreads", "8", true},
		{"", "rpc", "serverThreads", "spark.rpc.io.serverThreads", "8", true},
		{"driver", "rpc", "clientThreads", "spark.rpc.io.clientThreads", "4", true},
		{"executor", "shuffle", "numConns", "spark.executor.shuffle.io.numConns", "3", true},
		{"driver", "shuffle", "numConns", "", "", false},
		{"", "shuffle", "numConns", "", "", false},
		{"driver", "rpc", "missing", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.role+"/"+tt.module+"/"+tt.suffix, func(t *testing.T) {
			k, v, ok := c.ModuleLookup(tt.role, tt.module, tt.suffix)
			if k != tt.wantKey || v != tt.wantValue || ok != tt.wantOK {
				t.Fatalf("ModuleLookup = (%q, %q, %v), want (%q, %q, %v)", k, v, ok, tt.wantKey, tt.wantValue, tt.wantOK)
			}
		})
	}
	if got := ModuleKey("driver", "rpc", "serverThreads"); got != "spark.driver.rpc.io.serverThreads" {
		t.Fatalf("ModuleKey with role = %q", got)
	}
	if got := ModuleKey("", "shuffle", "maxRetries"); got != "spark.shuffle.io.maxRetries" {
		t.Fatalf("ModuleKey without role = %q", got)
	}
}

func TestFirstSet(t *testing.T) {
	c := FromMap(map[string]string{
		"spark.new.name": "new",
		"spark.old.name": "old",
		"spark.empty":    "",
	})
	tests := []struct {
		keys               []string
		wantKey, wantValue string
		wantOK             bool
	}{
		{[]string{"spark.new.name", "spark.old.name"}, "spark.new.name", "new", true},
		{[]string{"spark.old.name", "spark.new.name"}, "spark.old.name", "old", true},
		{[]string{"spark.missing", "spark.old.name"}, "spark.old.name", "old", true},
		{[]string{"spark.missing", "spark.empty", "spark.new.name"}, "spark.empty", "", true},
		{[]string{"spark.missing", "spark.also.missing"}, "", "", false},
		{nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			k, v, ok := c.FirstSet(tt.keys...)
			if k != tt.wantKey || v != tt.wantValue || ok != tt.wantOK {
				t.Fatalf("FirstSet = (%q, %q, %v), want (%q, %q, %v)", k, v, ok, tt.wantKey, tt.wantValue, tt.wantOK)
			}
		})
	}
}

func TestConfBasics(t *testing.T) {
	src := map[string]string{"spark.a": "1"}
	c := FromMap(src)
	src["spark.a"] = "changed"
	src["spark.b"] = "2"
	if v, _ := c.Get("spark.a"); v != "1" || c.Contains("spark.b") {
		t.Fatal("FromMap did not copy its input")
	}

	c.Set("spark.b", "2").Set("spark.empty", "")
	if !c.Contains("spark.empty") || c.GetString("spark.empty", "def") != "" {
		t.Fatal("an empty value must count as set")
	}
	if c.GetString("spark.missing", "def") != "def" || c.Contains("spark.missing") {
		t.Fatal("missing key must give the default")
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}

	all := c.All()
	all["spark.a"] = "mutated"
	if v, _ := c.Get("spark.a"); v != "1" {
		t.Fatal("All must return a copy")
	}

	clone := c.Clone()
	clone.Set("spark.a", "clone")
	if v, _ := c.Get("spark.a"); v != "1" {
		t.Fatal("Clone must be independent of the original")
	}
	if !reflect.DeepEqual(New().All(), map[string]string{}) || FromMap(nil).Len() != 0 {
		t.Fatal("New and FromMap(nil) must be empty")
	}

	var nilConf *Conf
	if _, ok := nilConf.Get("x"); ok || nilConf.Contains("x") || nilConf.Len() != 0 || len(nilConf.All()) != 0 {
		t.Fatal("nil *Conf must read as empty")
	}
	if d, err := nilConf.GetDuration("x", time.Second, time.Second); d != time.Second || err != nil {
		t.Fatal("nil *Conf must return defaults")
	}
	if _, _, ok := nilConf.ModuleLookup("driver", "rpc", "x"); ok {
		t.Fatal("nil *Conf ModuleLookup must find nothing")
	}
	if nilConf.Clone().Set("k", "v").GetString("k", "") != "v" {
		t.Fatal("Clone of nil *Conf must be a usable empty Conf")
	}
}

func TestConcurrentReads(t *testing.T) {
	c := New()
	for i := 0; i < 100; i++ {
		c.Set(fmt.Sprintf("spark.k%d", i), fmt.Sprintf("%ds", i))
	}
	c.Set("spark.rpc.io.serverThreads", "8")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				key := fmt.Sprintf("spark.k%d", i)
				if d, err := c.GetDuration(key, 0, time.Second); err != nil || d != time.Duration(i)*time.Second {
					t.Errorf("GetDuration(%s) = %v, %v", key, d, err)
					return
				}
				_ = c.All()
				_, _, _ = c.ModuleLookup("driver", "rpc", "serverThreads")
				_, _, _ = c.FirstSet("spark.none", key)
				_ = c.Clone()
			}
		}()
	}
	wg.Wait()
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spark-defaults.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPropertiesFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]string
	}{
		{
			name: "spark-defaults example",
			content: `# Default system properties included when running spark-submit.
! bang comments too
   # indented comment

spark.master                     spark://master:7077
spark.eventLog.enabled           true
spark.serializer=org.apache.spark.serializer.KryoSerializer
spark.driver.memory: 5g
spark.executor.extraJavaOptions  -XX:+PrintGCDetails -Dkey=value -Dnumbers="one two three"
spark.rpc.askTimeout = 120s   
	spark.indented	tab-separated
`,
			want: map[string]string{
				"spark.master":                    "spark://master:7077",
				"spark.eventLog.enabled":          "true",
				"spark.serializer":                "org.apache.spark.serializer.KryoSerializer",
				"spark.driver.memory":             "5g",
				"spark.executor.extraJavaOptions": `-XX:+PrintGCDetails -Dkey=value -Dnumbers="one two three"`,
				"spark.rpc.askTimeout":            "120s",
				"spark.indented":                  "tab-separated",
			},
		},
		{
			name: "continuation lines",
			content: "spark.jars a.jar,\\\n" +
				"           b.jar,\\\n" +
				"\tc.jar\n" +
				"spark.after continued\n" +
				"spark.comment.inside first \\\n" +
				"# not a comment here\n" +
				"spark.key\\\n" +
				"  .split value\n",
			want: map[string]string{
				"spark.jars":           "a.jar,b.jar,c.jar",
				"spark.after":          "continued",
				"spark.comment.inside": "first # not a comment here",
				"spark.key.split":      "value",
			},
		},
		{
			name:    "even backslashes do not continue",
			content: "spark.path C:\\\\\nspark.next x\n",
			want:    map[string]string{"spark.path": `C:\`, "spark.next": "x"},
		},
		{
			name:    "continuation at end of file",
			content: "spark.tail value\\",
			want:    map[string]string{"spark.tail": "value"},
		},
		{
			name:    "comment line ending in backslash does not continue",
			content: "# comment \\\nspark.a 1\n",
			want:    map[string]string{"spark.a": "1"},
		},
		{
			name:    "separators",
			content: "a=1\nb:2\nc 3\nd = 4\ne : 5\nf\t=\t6\ng==7\nh 8 = 9\ni\nj=\nk  \n",
			want: map[string]string{
				"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6",
				"g": "=7", "h": "8 = 9", "i": "", "j": "", "k": "",
			},
		},
		{
			name:    "escapes",
			content: "key\\ with\\ spaces value\nkey\\=eq v\ntabs a\\tb\nuni \\u00e9t\\u00E9\nemoji \\uD83D\\uDE00\nlone \\uD83Dx\nother \\q\\\\\n",
			want: map[string]string{
				"key with spaces": "value",
				"key=eq":          "v",
				"tabs":            "a\tb",
				"uni":             "été",
				"emoji":           "😀",
				"lone":            "\uFFFDx",
				"other":           `q\`,
			},
		},
		{
			name:    "CRLF, CR line endings, BOM and duplicates",
			content: "\uFEFFspark.a=1\r\nspark.b=2\rspark.a=3\r\n",
			want:    map[string]string{"spark.a": "3", "spark.b": "2"},
		},
		{
			name:    "empty file",
			content: "",
			want:    map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadPropertiesFile(writeTemp(t, tt.content))
			if err != nil {
				t.Fatalf("LoadPropertiesFile: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("LoadPropertiesFile =\n%#v\nwant\n%#v", got, tt.want)
			}
			// The reader form must agree with the file form.
			fromReader, err := ParseProperties(strings.NewReader(tt.content))
			if err != nil || !reflect.DeepEqual(fromReader, tt.want) {
				t.Fatalf("ParseProperties = %#v, %v", fromReader, err)
			}
		})
	}
}

func TestLoadPropertiesFileErrors(t *testing.T) {
	if _, err := LoadPropertiesFile(filepath.Join(t.TempDir(), "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want os.ErrNotExist", err)
	}
	path := writeTemp(t, "ok 1\n# comment\nbad \\u12G4\n")
	_, err := LoadPropertiesFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad escape: err = %v, want path and line 3", err)
	}
}

func TestLoadedConf(t *testing.T) {
	path := writeTemp(t, "spark.rpc.askTimeout 30\nspark.driver.rpc.io.serverThreads=16\n")
	props, err := LoadPropertiesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := FromMap(props)
	if d, err := c.GetDuration("spark.rpc.askTimeout", 0, time.Second); err != nil || d != 30*time.Second {
		t.Fatalf("GetDuration = %v, %v", d, err)
	}
	if k, v, ok := c.ModuleLookup("driver", "rpc", "serverThreads"); !ok || v != "16" || k != "spark.driver.rpc.io.serverThreads" {
		t.Fatalf("ModuleLookup = %q, %q, %v", k, v, ok)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"120s", "5m", "5min", "100ms", "1h", "2d", "30", "10us", " 7s ", "-1s", "-0",
		"abc", "", "1.5s", "10 s", "9223372036854775807", "-9223372036854775808",
		"106752d", "99999999999999999999999us", "1MS", "--1", "1\u212a",
	} {
		f.Add(s)
	}
	units := []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second, time.Minute, 24 * time.Hour}
	f.Fuzz(func(t *testing.T, s string) {
		for _, unit := range units {
			d, err := ParseDuration(s, unit)
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.Value != s || pe.Err == nil {
					t.Fatalf("ParseDuration(%q) returned non-*Error %T: %v", s, err, err)
				}
				if d != 0 {
					t.Fatalf("ParseDuration(%q) = %v with error", s, d)
				}
				continue
			}
			t2 := strings.TrimSpace(s)
			if neg := strings.HasPrefix(t2, "-"); (neg && d > 0) || (!neg && d < 0) {
				t.Fatalf("ParseDuration(%q) = %v has the wrong sign", s, d)
			}
			// Parsing is insensitive to case and surrounding spaces.
			d2, err := ParseDuration(" "+strings.ToUpper(t2)+" ", unit)
			if err != nil || d2 != d {
				t.Fatalf("ParseDuration(%q) = %v but upper-cased gives %v, %v", s, d, d2, err)
			}
		}
	})
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{
		"64k", "2m", "1g", "48m", "100", "1t", "2M", "1x", "1kb", "3PB", "512b",
		"", "-1", "1.5g", " 32k ", "8192p", "9223372036854775807", "99999999999999999999",
	} {
		f.Add(s)
	}
	units := []int64{1, 1 << 10, 1 << 20, 1 << 30, 1000, math.MaxInt64}
	f.Fuzz(func(t *testing.T, s string) {
		for _, unit := range units {
			n, err := ParseBytes(s, unit)
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.Value != s || pe.Err == nil {
					t.Fatalf("ParseBytes(%q) returned non-*Error %T: %v", s, err, err)
				}
				if n != 0 {
					t.Fatalf("ParseBytes(%q) = %d with error", s, n)
				}
				continue
			}
			if n < 0 {
				t.Fatalf("ParseBytes(%q, %d) = %d, negative", s, unit, n)
			}
			t2 := strings.TrimSpace(s)
			n2, err := ParseBytes(strings.ToUpper(t2), unit)
			if err != nil || n2 != n {
				t.Fatalf("ParseBytes(%q) = %d but upper-cased gives %d, %v", s, n, n2, err)
			}
		}
	})
}

func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		"a=1\nb:2\nc 3\n", "# c\n! c\n\n", "k v\\\n  w\n", "k \\u00e9\\uD83D\\uDE00", "k \\u12",
		"\uFEFFa\r\nb\rc", "\\", "a\\\\\n", "=v", ": x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		props, err := ParseProperties(strings.NewReader(s))
		if err != nil {
			if props != nil {
				t.Fatalf("ParseProperties(%q) returned a map and an error", s)
			}
			return
		}
		for k, v := range props {
			if v != strings.TrimFunc(v, func(r rune) bool { return r <= ' ' }) {
				t.Fatalf("ParseProperties(%q): value for %q not trimmed: %q", s, k, v)
			}
		}
	})
}
