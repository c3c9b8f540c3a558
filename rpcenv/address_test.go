package rpcenv

import (
	"strings"
	"testing"
)

// RpcAddressSuite: hostPort, toSparkURL, fromSparkURL.
func TestAddressString(t *testing.T) {
	cases := []struct {
		a        Address
		hostPort string
	}{
		{NewAddress("1.2.3.4", 1234), "1.2.3.4:1234"},
		{NewAddress("localhost", 0), "localhost:0"},
		{NewAddress("::1", 1234), "[::1]:1234"},
		{NewAddress("[::1]", 1234), "[::1]:1234"},
		{NewAddress("2001:db8::2:1", 65535), "[2001:db8::2:1]:65535"},
	}
	for _, c := range cases {
		if got := c.a.String(); got != c.hostPort {
			t.Errorf("%#v.String() = %q, want %q", c.a, got, c.hostPort)
		}
		if got := c.a.SparkURL(); got != "spark://"+c.hostPort {
			t.Errorf("%#v.SparkURL() = %q", c.a, got)
		}
		back, err := ParseSparkURL(c.a.SparkURL())
		if err != nil || back != c.a {
			t.Errorf("ParseSparkURL(%q) = %#v, %v; want %#v", c.a.SparkURL(), back, err, c.a)
		}
	}
	if h := NewAddress("[fe80::1]", 1).Host; h != "fe80::1" {
		t.Errorf("NewAddress keeps brackets: %q", h)
	}
	if !(Address{}).IsZero() || NewAddress("h", 0).IsZero() || NewAddress("", 1).IsZero() {
		t.Error("IsZero")
	}
}

func TestParseSparkURL(t *testing.T) {
	good := map[string]Address{
		"spark://1.2.3.4:1234":       {Host: "1.2.3.4", Port: 1234},
		"spark://localhost:0":        {Host: "localhost", Port: 0},
		"spark://[::1]:7077":         {Host: "::1", Port: 7077},
		"spark://[2001:db8::1]:7077": {Host: "2001:db8::1", Port: 7077},
		"spark://example.com:65535":  {Host: "example.com", Port: 65535},
	}
	for s, want := range good {
		got, err := ParseSparkURL(s)
		if err != nil || got != want {
			t.Errorf("ParseSparkURL(%q) = %#v, %v; want %#v", s, got, err, want)
		}
	}
	bad := []string{
		"invalid://1.2.3.4:1234",   // scheme
		"http://1.2.3.4:1234",      // scheme
		"1.2.3.4:1234",             // no scheme
		"spark://1.2. 3.4:1234",    // typo
		"spark://1.2.3.4",          // missing port
		"spark://1.2.3.4:",         // empty port
		"spark://1.2.3.4:x",        // port not a number
		"spark://1.2.3.4:-1",       // negative port
		"spark://1.2.3.4:65536",    // port too big
		"spark://:1234",            // no host
		"spark://1.2.3.4:1234/x",   // path
		"spark://1.2.3.4:1234/",    // path "/" (Spark: getPath is not empty)
		"spark://1.2.3.4:1234?a=b", // query
		"spark://1.2.3.4:1234?",    // empty query
		"spark://1.2.3.4:1234#f",   // fragment
		"spark://user@1.2.3.4:1234",
		"spark://::1:1234", // IPv6 without brackets
		"",
	}
	for _, s := range bad {
		if a, err := ParseSparkURL(s); err == nil {
			t.Errorf("ParseSparkURL(%q) = %#v, want an error", s, a)
		} else if !strings.Contains(err.Error(), "invalid master URL") {
			t.Errorf("ParseSparkURL(%q): error %q does not say invalid master URL", s, err)
		}
	}
}

// NettyRpcAddressSuite.toString (+ client mode).
func TestEndpointAddress(t *testing.T) {
	ea := EndpointAddress{Addr: NewAddress("localhost", 12345), Name: "test"}
	if got := ea.String(); got != "spark://test@localhost:12345" {
		t.Errorf("String = %q", got)
	}
	if got := (EndpointAddress{Name: "test"}).String(); got != "spark-client://test" {
		t.Errorf("client-mode String = %q", got)
	}
	v6 := EndpointAddress{Addr: NewAddress("::1", 7077), Name: "Master"}
	if got := v6.String(); got != "spark://Master@[::1]:7077" {
		t.Errorf("IPv6 String = %q", got)
	}
	for _, want := range []EndpointAddress{ea, v6, {Addr: NewAddress("10.0.0.1", 0), Name: "endpoint-verifier"}} {
		got, err := ParseEndpointURI(want.String())
		if err != nil || got != want {
			t.Errorf("ParseEndpointURI(%q) = %#v, %v", want.String(), got, err)
		}
	}
}

func TestParseEndpointURIErrors(t *testing.T) {
	bad := []string{
		"spark://localhost:12345",           // no name
		"spark://@localhost:12345",          // empty name
		"spark-client://test",               // client-mode URIs are not parsed
		"http://test@localhost:12345",       // scheme
		"spark://test@localhost",            // no port
		"spark://test@localhost:-5",         // negative port
		"spark://test@:12345",               // no host
		"spark://test:pw@localhost:12345",   // password
		"spark://test@localhost:12345/path", // path
		"spark://test@localhost:12345/",     // path "/"
		"spark://test@localhost:12345?q=1",  // query
		"spark://test@localhost:12345#frag", // fragment
		"spark://te st@local host:1",        // typo
		"",
	}
	for _, s := range bad {
		if ea, err := ParseEndpointURI(s); err == nil {
			t.Errorf("ParseEndpointURI(%q) = %#v, want an error", s, ea)
		} else if !strings.Contains(err.Error(), "invalid Spark URL") {
			t.Errorf("ParseEndpointURI(%q): error %q does not say invalid Spark URL", s, err)
		}
	}
}

func TestParseAddrLoose(t *testing.T) {
	cases := map[string]Address{
		"127.0.0.1:5000": {Host: "127.0.0.1", Port: 5000},
		"[::1]:5000":     {Host: "::1", Port: 5000},
		"nohostport":     {Host: "nohostport"},
	}
	for in, want := range cases {
		if got := parseAddr(in); got != want {
			t.Errorf("parseAddr(%q) = %#v, want %#v", in, got, want)
		}
	}
}
