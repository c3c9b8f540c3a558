// Package scala maps Scala 2.13's serialized shapes, as Spark's messages
// carry them, to and from the javaser model.
//
// Scala writes most values through replacement objects, and which one
// appears depends on the value and its size:
//
//   - Some(x) is a plain object (field value); None and every other
//     module (companion objects, Nil's factory, Map.EmptyMap) is a
//     scala.runtime.ModuleSerializationProxy holding the module's Class.
//   - List, Vector, HashMap, HashSet, mutable.HashMap and most other
//     collections are a scala.collection.generic.DefaultSerializationProxy:
//     a factory, then from its writeObject the element count (-1 when the
//     collection does not know it, as for a List), the elements, and for
//     an unknown count the end marker scala.collection.generic.SerializeEnd$.
//   - Map1..Map4, Set1..Set4 and the ArraySeq variants are written field
//     by field.
//   - An Enumeration value (Spark's ExecutorState, DriverState) is a
//     scala.Enumeration$Val with its id and its enumeration module, and
//     the JVM resolves it through the module and the id.
//   - Boxed numbers are java.lang.Integer, Long, Double, Boolean.
//
// The readers (Option, Seq, Map, EnumValue, Int, ...) accept every form a
// value may take. A Builder writes the form Scala itself would write, with
// descriptors from a javaser.Classes (a Spark release's class table), and
// shares what the JVM shares: modules, Enumeration values, Boolean and
// small boxed integers. Hash collections of more than four entries are
// written in the order given, which may differ from the JVM's hash order
// (the contents are the same).
//
//	b := scala.NewBuilder(table)
//	upd := b.New("org.apache.spark.deploy.DeployMessages$ExecutorUpdated",
//		"id", 0, "state", b.EnumValue("org.apache.spark.deploy.ExecutorState$", 1),
//		"message", b.None(), "exitStatus", b.None(), "workerHost", b.None())
//	if err := b.Err(); err != nil { ... }
//	body, err := javaser.Marshal(upd)
//
// The package is separate from javaser because it is a vocabulary on top
// of the stream grammar: javaser stays a JVM-generic codec, and this
// package can follow Scala without touching it.
//
// A Builder collects the first error and is used by one goroutine; the
// reading functions are pure.
package scala
