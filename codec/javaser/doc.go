// Package javaser reads and writes Java object serialization streams
// (java.io.ObjectOutputStream, protocol version 2): the content of every
// RPC message and reply Spark's NettyRpcEnv sends. It knows the stream
// grammar, not any class: a stream becomes a typed model, and the model
// is written back byte for byte as the JVM wrote it.
//
// # Model
//
// Unmarshal returns one value: nil, *String, *Object, *Array, *Enum,
// *ClassObject or *ClassDesc. An *Object carries its
// *ClassDesc (name, serialVersionUID, SC* flags, fields in wire order,
// superclass) and one ClassData per class of its hierarchy, top-most
// superclass first: the field values (primitives as Go values, objects as
// model values) and, for classes with a writeObject method (SCWriteMethod),
// the annotation that method wrote after its fields (BlockData and
// objects). Externalizable objects keep their block-data content in
// External. Back references come out as the same Go pointer, so shared
// and cyclic graphs survive.
//
//	v, err := javaser.Unmarshal(body)           // one object, as Spark sends
//	o, _ := v.(*javaser.Object)
//	name, err := o.StringField("name")          // CheckExistence(name)
//
// Writing mirrors the JVM's handle assignment: values are shared by
// pointer (*Object, *String, *Array), descriptors by pointer or by equal
// name and serialVersionUID, field type signatures by content (the JVM
// interns them), enum constants and java.lang.Class objects by name, and
// objects with the same Object.Key once per stream (Scala modules written
// through writeReplace, Boolean.TRUE, cached small Integers). A plain Go
// string in an object slot is a new, unshared java.lang.String.
//
//	d, _ := table.Desc("org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence")
//	o := javaser.NewObject(d).MustSet("name", "Master")
//	body, err := javaser.Marshal(o)
//
// Descriptors come from a ClassTable: serialVersionUIDs, flags and field
// lists as data, generated per Spark release from the real jars
// (deploy/sparkmsg/suid holds the tables); ClassTable.CheckAll compares a
// peer's descriptors with it. The Scala 2.13 shapes (Option, List, Map,
// Enumeration values, ...) live in the sub-package javaser/scala.
//
// # Hostile input
//
// A reader never panics; every failure is an *Error with the byte offset,
// the class being read and a sentinel (ErrTruncated, ErrMalformed,
// ErrLimit, ErrUnsupported, ErrTrailing, and ErrWriteAborted with the
// writer's exception when the stream holds TC_EXCEPTION). Limits cap the
// nesting depth, array and string lengths, the number of handles, the
// stream length and an estimate of the model's memory (MaxAlloc, which
// also stops a short stream from claiming much through long superclass
// chains); besides, an array or field count is checked against the bytes
// left before anything is allocated.
//
// A generic reader cannot know whether a writeObject method called
// defaultWriteObject; like other stream dumpers it assumes it did when the
// class has serializable fields (every Spark and Scala class Ember meets
// does). Protocol-1 externalizable data (SCExternalizable without
// SCBlockData) has no self-describing length and is refused with
// ErrUnsupported; ObjectOutputStream has not written it since JDK 1.2.
//
// # Why not a library
//
// github.com/phith0n/zkar (the maintained Go implementation) is not
// served by the module proxy this project builds from. It is also a
// security-research tool rather than a codec for hostile peers: it has no
// configurable limits on depth, lengths or handles, and it keeps one heap
// value per array element (a byte array of n bytes is n values). This
// package is small, bounded and written for Spark's traffic, with a model
// a message mapper can use directly.
//
// # Golden streams
//
// testdata/spark-4.1.4 holds streams the real JVM wrote for Spark 4.1.4's
// deploy messages and the Scala shapes inside them (index.tsv says what
// each is), written by internal/interop/jvm/javaser/Capture.java, and the
// class table of that release. Plain tests read every stream and write it
// back byte for byte, and build the Spark messages in Go to the same
// bytes; live tests (skipped without Spark) regenerate the streams
// (go test ./codec/javaser -run TestLiveGoldenStreams -update-golden
// rewrites them) and have the JVM read Ember-built messages.
//
// # Concurrency
//
// A Decoder or Encoder is used by one goroutine at a time; the package
// functions take their own from a pool (Unmarshal and ReadStream without
// options, Marshal and AppendMarshal), so a stream costs neither a coder
// nor its handle tables, and the pooled coder keeps nothing of it. A ClassTable is immutable and safe for
// concurrent use; the descriptors it returns are shared and must not be
// modified. Model values are plain data with no locking.
package javaser
