package rpcenv

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/codec/javaser/scala"
	"github.com/ember-rpc/ember/deploy/sparkmsg/suid"
	"github.com/ember-rpc/ember/internal/ratelog"
	"github.com/ember-rpc/ember/netpoll"
)

// Java content: what Spark's JVMs put after the RequestMessage header, and
// what they answer with, is one Java serialization stream (AC ED 00 05 ...)
// running to the end of the frame. Ember reads the content of every
// message by its first bytes: the stream magic means Java, anything else is
// Ember's own encoding (type name + JSON). A reply goes back in the
// asker's encoding, and a ref that arrived in Java content (a JVM's
// NettyRpcEndpointRef) sends in Java. The choice is per message: one env
// talks JSON to Ember peers and Java to JVM peers at the same time.
//
// The built-in Java values are java.lang.String, Boolean, Integer, Long
// and Double (Go string, bool, int, int64, float64), the endpoint
// verifier's CheckExistence, NettyRpcEndpointRef (*Ref) and, in replies,
// Spark's RpcFailure. Other classes go through the JavaMappers registered
// with RegisterJavaMapper (deploy/sparkmsg maps the deploy messages); a
// class no mapper claims reaches the endpoint as its *javaser.Object.
//
// Every class in a peer's stream is checked against the Spark class table
// (deploy/sparkmsg/suid, SetJavaClasses to replace it): an unknown class
// or another serialVersionUID is refused with an error that names the
// class and the Spark version expected. Ember never writes a Throwable: a
// failed ask from a JVM gets the transport's RpcFailure (a string).

// javaMagic opens every Java serialization stream.
var javaMagic = []byte{0xAC, 0xED, 0x00, 0x05}

// isJavaContent reports whether message content is a Java stream. Ember's
// own content starts with a u16 type-name length, which is never 0xACED.
func isJavaContent(b []byte) bool { return bytes.HasPrefix(b, javaMagic) }

// Class names the env itself reads and writes.
const (
	javaCheckExistence = "org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence"
	javaEndpointRef    = "org.apache.spark.rpc.netty.NettyRpcEndpointRef"
	javaEndpointAddr   = "org.apache.spark.rpc.RpcEndpointAddress"
	javaRPCAddress     = "org.apache.spark.rpc.RpcAddress"
	javaRPCTimeout     = "org.apache.spark.rpc.RpcTimeout"
	javaRPCFailure     = "org.apache.spark.rpc.netty.RpcFailure"
)

// ErrJavaContent marks Java content the env cannot read or write: a
// malformed stream, a class missing from the table, a serialVersionUID of
// another Spark release, or a value with no Java form.
var ErrJavaContent = errors.New("rpcenv: Java content")

// JavaMapper converts between Go messages and the Java object graphs of a
// family of JVM classes (Spark's deploy messages, say). Mappers are
// registered once, at init, with RegisterJavaMapper.
type JavaMapper interface {
	// FromJava converts a decoded object; ok is false when the mapper does
	// not know its class.
	FromJava(o *javaser.Object, jc *JavaConv) (msg any, ok bool, err error)
	// ToJava converts a Go message; ok is false when the mapper does not
	// know its type.
	ToJava(msg any, jc *JavaConv) (obj any, ok bool, err error)
}

var (
	javaMu      sync.RWMutex
	javaMappers []JavaMapper
	javaTable   javaser.Classes
	javaVersion string
)

// RegisterJavaMapper adds a mapper; mappers are tried in registration
// order after the built-in values.
func RegisterJavaMapper(m JavaMapper) {
	javaMu.Lock()
	defer javaMu.Unlock()
	javaMappers = append(javaMappers, m)
}

// SetJavaClasses replaces the class table Java content is checked against
// and written from (default: deploy/sparkmsg/suid's table of
// suid.DefaultVersion). version names the Spark release in errors.
func SetJavaClasses(t javaser.Classes, version string) {
	javaMu.Lock()
	defer javaMu.Unlock()
	javaTable, javaVersion = t, version
}

// javaClasses returns the class table, loading the default once.
func javaClasses() (javaser.Classes, string, error) {
	javaMu.RLock()
	t, v := javaTable, javaVersion
	javaMu.RUnlock()
	if t != nil {
		return t, v, nil
	}
	tab, err := suid.Default()
	if err != nil {
		return nil, "", fmt.Errorf("%w: no Spark class table: %v", ErrJavaContent, err)
	}
	javaMu.Lock()
	defer javaMu.Unlock()
	if javaTable == nil {
		javaTable, javaVersion = tab, tab.Spark
	}
	return javaTable, javaVersion, nil
}

func mappers() []JavaMapper {
	javaMu.RLock()
	defer javaMu.RUnlock()
	return javaMappers
}

// JavaConv is what a JavaMapper gets to convert one message: a Scala
// builder over the class table, and the env and connection that refs in
// the message bind to. It is used by one goroutine.
type JavaConv struct {
	*scala.Builder
	env     *Env
	client  *netpoll.Client
	version string
}

// SparkVersion is the Spark release of the class table in use.
func (jc *JavaConv) SparkVersion() string { return jc.version }

// Env is the env converting the message.
func (jc *JavaConv) Env() *Env { return jc.env }

// LocalRef returns a ref to the endpoint name of the converting env (the
// master's own ref in a reply, say).
func (jc *JavaConv) LocalRef(name string) *Ref {
	return &Ref{env: jc.env, addr: EndpointAddress{Addr: jc.env.addr, Name: name}}
}

// Ref converts a NettyRpcEndpointRef from a peer's stream into a *Ref
// bound to the env and to the connection the message came in on; null
// gives nil.
func (jc *JavaConv) Ref(v any) (*Ref, error) {
	if v == nil {
		return nil, nil
	}
	o, ok := v.(*javaser.Object)
	if !ok || o.ClassName() != javaEndpointRef {
		return nil, fmt.Errorf("%w: %T where a NettyRpcEndpointRef was expected", ErrJavaContent, v)
	}
	ea, err := o.ObjectField("endpointAddress")
	if err != nil || ea == nil {
		return nil, fmt.Errorf("%w: NettyRpcEndpointRef without its endpointAddress", ErrJavaContent)
	}
	name, err := ea.StringField("name")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJavaContent, err)
	}
	var addr Address
	ra, err := ea.ObjectField("rpcAddress")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJavaContent, err)
	}
	if ra != nil {
		host, err := ra.StringField("host")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrJavaContent, err)
		}
		port, err := ra.IntField("port")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrJavaContent, err)
		}
		addr = Address{Host: host, Port: int(port)}
	}
	return &Ref{env: jc.env, addr: EndpointAddress{Addr: addr, Name: name}, client: jc.client, java: true}, nil
}

// RefObject writes r as a NettyRpcEndpointRef: its RpcEndpointAddress
// (with the cached toString) and, from RpcEndpointRef, the env's
// defaultAskTimeout (spark.rpc.askTimeout in whole seconds). A JVM that
// gets a ref without the timeout fails its next ask on it.
func (jc *JavaConv) RefObject(r *Ref) *javaser.Object {
	if r == nil {
		return nil
	}
	var ra *javaser.Object
	if !r.addr.Addr.IsZero() {
		ra = jc.New(javaRPCAddress, "host", r.addr.Addr.Host, "port", int32(r.addr.Addr.Port))
	}
	ea := jc.New(javaEndpointAddr, "rpcAddress", ra, "name", r.addr.Name, "toString", r.addr.String())
	d, key := jc.env.askTimeout.d, jc.env.askTimeout.key
	secs := int64(math.Ceil(d.Seconds()))
	timeout := jc.New(javaRPCTimeout, "duration", jc.FiniteDuration(secs, "SECONDS"), "timeoutProp", key)
	return jc.New(javaEndpointRef, "endpointAddress", ea, "defaultAskTimeout", timeout)
}

// javaConvAndBuilder puts a JavaConv and its Builder in one allocation.
type javaConvAndBuilder struct {
	jc JavaConv
	b  scala.Builder
}

func (e *Env) javaConv(c *netpoll.Client) (*JavaConv, error) {
	tab, version, err := javaClasses()
	if err != nil {
		return nil, err
	}
	return e.newJavaConv(tab, version, c), nil
}

func (e *Env) newJavaConv(tab javaser.Classes, version string, c *netpoll.Client) *JavaConv {
	x := &javaConvAndBuilder{}
	x.b.Reset(tab)
	x.jc = JavaConv{Builder: &x.b, env: e, client: c, version: version}
	return &x.jc
}

// decodeJava reads a Java stream holding one object and converts it.
func (e *Env) decodeJava(b []byte, c *netpoll.Client) (any, error) {
	v, err := javaser.Unmarshal(b)
	if err != nil {
		return nil, javaReadError(err)
	}
	return e.convertJava(v, c)
}

// javaReadError is the error for a stream javaser cannot read.
func javaReadError(err error) error {
	_, version, verr := javaClasses()
	if verr != nil {
		return verr
	}
	return fmt.Errorf("%w: cannot read the stream (is the peer Spark %s?): %w", ErrJavaContent, version, err)
}

// convertJava checks a decoded stream's classes against the table and
// converts its object.
func (e *Env) convertJava(v any, c *netpoll.Client) (any, error) {
	tab, version, err := javaClasses()
	if err != nil {
		return nil, err
	}
	jc := e.newJavaConv(tab, version, c)
	if ct, ok := tab.(interface{ CheckAll(any) error }); ok {
		if err := ct.CheckAll(v); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrJavaContent, err)
		}
	}
	msg, err := jc.fromJava(v)
	if err != nil && !errors.Is(err, ErrJavaContent) {
		// A class of the table whose data has another shape.
		err = fmt.Errorf("%w: %w", ErrJavaContent, err)
	}
	return msg, err
}

// decodeJavaReply reads a JVM's reply: a value, or Spark's RpcFailure
// object, which becomes a *RemoteError with the exception's class and
// message (its classes are not checked: any Throwable may come back). The
// stream is read once.
func (e *Env) decodeJavaReply(b []byte, c *netpoll.Client) (any, error) {
	v, err := javaser.Unmarshal(b)
	if err != nil {
		return nil, javaReadError(err)
	}
	if o, ok := v.(*javaser.Object); ok && o.ClassName() == javaRPCFailure {
		addr := ""
		if c != nil {
			addr = c.RemoteAddr()
		}
		x, _ := o.Get("e")
		return nil, &RemoteError{Addr: addr, Msg: throwableText(x)}
	}
	return e.convertJava(v, c)
}

// throwableText is "<class>: <detailMessage>" of a serialized Throwable.
func throwableText(v any) string {
	o, ok := v.(*javaser.Object)
	if !ok || o == nil {
		return "remote failure"
	}
	msg, _ := o.StringField("detailMessage")
	if msg == "" {
		return o.ClassName()
	}
	return o.ClassName() + ": " + msg
}

func (jc *JavaConv) fromJava(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case *javaser.String:
		return x.Value, nil
	case *javaser.Object:
		switch x.ClassName() {
		case "java.lang.Boolean":
			return scala.Bool(x)
		case "java.lang.Integer":
			i, err := scala.Int(x)
			return int(i), err
		case "java.lang.Long":
			return scala.Long(x)
		case "java.lang.Double":
			return scala.Double(x)
		case javaCheckExistence:
			name, err := x.StringField("name")
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrJavaContent, err)
			}
			return checkExistence{Name: name}, nil
		case javaEndpointRef:
			return jc.Ref(x)
		}
		for _, m := range mappers() {
			msg, ok, err := m.FromJava(x, jc)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrJavaContent, x.ClassName(), err)
			}
			if ok {
				return msg, nil
			}
		}
		return x, nil
	}
	return v, nil
}

// toJava converts a Go value to its Java object graph.
func (jc *JavaConv) toJava(v any) (any, error) {
	var out any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return v, nil // v is x boxed already: no new box
	case bool:
		out = jc.Bool(x)
	case int:
		if x < math.MinInt32 || x > math.MaxInt32 {
			out = jc.Long(int64(x))
		} else {
			out = jc.Int(int32(x))
		}
	case int32:
		out = jc.Int(x)
	case int64:
		out = jc.Long(x)
	case float64:
		out = jc.Double(x)
	case *Ref:
		out = jc.RefObject(x)
	case checkExistence:
		out = jc.New(javaCheckExistence, "name", x.Name)
	case *javaser.Object, *javaser.Array, *javaser.Enum, *javaser.String:
		return v, nil
	default:
		found := false
		for _, m := range mappers() {
			o, ok, err := m.ToJava(v, jc)
			if err != nil {
				return nil, fmt.Errorf("%w: writing %T: %w", ErrJavaContent, v, err)
			}
			if ok {
				out, found = o, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %T has no Java form (no JavaMapper knows it)", ErrJavaContent, v)
		}
	}
	if err := jc.Err(); err != nil {
		return nil, fmt.Errorf("%w: writing %T: %w", ErrJavaContent, v, err)
	}
	return out, nil
}

// appendJavaContent appends v as one Java serialization stream.
func (e *Env) appendJavaContent(dst []byte, v any) ([]byte, error) {
	jc, err := e.javaConv(nil)
	if err != nil {
		return dst, err
	}
	obj, err := jc.toJava(v)
	if err != nil {
		return dst, err
	}
	return javaser.AppendMarshal(dst, obj)
}

// appendJavaRequest writes a RequestMessage whose content is Java.
func (e *Env) appendJavaRequest(dst []byte, m *requestMessage) ([]byte, error) {
	dst, err := appendRequestHeader(dst, m)
	if err != nil {
		return dst, err
	}
	return e.appendJavaContent(dst, m.content)
}

// logJavaErrOnce logs a refusal of Java content through the env's
// per-peer limiter: a peer repeating bad messages (or inventing class
// names) costs one line per minute, with a count of the rest.
func (e *Env) logJavaErrOnce(err error, remote string) {
	e.warnings.Warn(e.log, ratelog.PeerKey(remote), "refusing Java content from a peer", "remote", remote, "err", err)
}

// DecodeJavaContent reads one Java stream as the env reads message
// content from a JVM (class checks, built-in values, the registered
// mappers); refs in it bind to e with no connection.
func (e *Env) DecodeJavaContent(b []byte) (any, error) { return e.decodeJava(b, nil) }

// AppendJavaContent appends v as the env writes it to a JVM: one Java
// serialization stream.
func (e *Env) AppendJavaContent(dst []byte, v any) ([]byte, error) {
	return e.appendJavaContent(dst, v)
}
