package rpcenv

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Address is a host and port (Spark's RpcAddress). The zero Address means
// "no address": the env of a client-mode process.
type Address struct {
	Host string
	Port int
}

// NewAddress normalises host (IPv6 literals lose their brackets here and
// regain them in String).
func NewAddress(host string, port int) Address {
	return Address{Host: strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), Port: port}
}

// IsZero reports whether a is the zero Address.
func (a Address) IsZero() bool { return a.Host == "" && a.Port == 0 }

// String returns host:port, with brackets around IPv6 hosts.
func (a Address) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// SparkURL returns spark://host:port.
func (a Address) SparkURL() string { return "spark://" + a.String() }

// ParseSparkURL parses spark://host:port. It rejects other schemes, a
// missing host, a negative port, and any path, query, fragment or user info.
func ParseSparkURL(s string) (Address, error) {
	u, err := url.Parse(s)
	bad := func(why string) (Address, error) {
		return Address{}, fmt.Errorf("rpcenv: invalid master URL %q: %s", s, why)
	}
	if err != nil {
		return bad(err.Error())
	}
	if u.Scheme != "spark" {
		return bad("scheme must be spark")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return bad("only spark://host:port is allowed")
	}
	host, port, err := splitHostPort(u.Host)
	if err != nil {
		return bad(err.Error())
	}
	return NewAddress(host, port), nil
}

func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, fmt.Errorf("no host")
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

// EndpointAddress names an endpoint: spark://name@host:port, or
// spark-client://name for an endpoint of a client-mode env (zero Addr).
type EndpointAddress struct {
	Addr Address
	Name string
}

// String returns the endpoint's URI. A name or host with characters that
// a URI cannot hold as they are ('/', '?', '@', '%', ' ', ...) is
// percent-encoded, so that ParseEndpointURI gives back the same address.
func (e EndpointAddress) String() string {
	if e.Addr.IsZero() {
		return "spark-client://" + e.Name
	}
	if !plainURIPart(e.Name, false) || !plainURIPart(e.Addr.Host, true) {
		return (&url.URL{Scheme: "spark", User: url.User(e.Name), Host: e.Addr.String()}).String()
	}
	return "spark://" + e.Name + "@" + e.Addr.String()
}

// plainURIPart reports whether s is written in a URI's user info (or, with
// host, its host, where an IPv6 address's colons may appear) as it is.
func plainURIPart(s string, host bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || host && c == ':') {
			return false
		}
	}
	return true
}

// ParseEndpointURI parses spark://name@host:port.
func ParseEndpointURI(s string) (EndpointAddress, error) {
	bad := func(why string) (EndpointAddress, error) {
		return EndpointAddress{}, fmt.Errorf("rpcenv: invalid Spark URL %q: %s", s, why)
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad(err.Error())
	}
	if u.Scheme != "spark" {
		return bad("scheme must be spark")
	}
	if u.User == nil || u.User.Username() == "" {
		return bad("no endpoint name")
	}
	if _, has := u.User.Password(); has {
		return bad("unexpected password")
	}
	if u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return bad("unexpected path, query or fragment")
	}
	host, port, err := splitHostPort(u.Host)
	if err != nil {
		return bad(err.Error())
	}
	return EndpointAddress{Addr: NewAddress(host, port), Name: u.User.Username()}, nil
}
