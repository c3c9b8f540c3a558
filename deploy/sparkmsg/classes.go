package sparkmsg

import (
	"encoding/json"
	"fmt"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/deploy/sparkmsg/suid"
	"github.com/ember-rpc/ember/rpcenv"
)

// extraClasses are classes a JVM peer sends that the release table does
// not list, with the descriptors Spark 4.1.4's JVM (Scala 2.13.17, JDK
// 17) writes for them. spark-submit's cluster mode (ClientApp) passes
// sys.env as the driver command's environment: a Map.WithDefault whose
// default is a serialized lambda naming scala.sys.package$.
var extraClasses = []javaser.ClassEntry{
	{Name: "scala.collection.immutable.Map$WithDefault", SUID: 3, Flags: javaser.SCSerializable, Fields: []javaser.FieldEntry{
		{Name: "defaultValue", Type: "L", Class: "Lscala/Function1;"},
		{Name: "underlying", Type: "L", Class: "Lscala/collection/immutable/Map;"}}},
	{Name: "java.lang.invoke.SerializedLambda", SUID: 8025925345765570181, Flags: javaser.SCSerializable, Fields: []javaser.FieldEntry{
		{Name: "implMethodKind", Type: "I"},
		{Name: "capturedArgs", Type: "[", Class: "[Ljava/lang/Object;"},
		{Name: "capturingClass", Type: "L", Class: "Ljava/lang/Class;"},
		{Name: "functionalInterfaceClass", Type: "L", Class: "Ljava/lang/String;"},
		{Name: "functionalInterfaceMethodName", Type: "L", Class: "Ljava/lang/String;"},
		{Name: "functionalInterfaceMethodSignature", Type: "L", Class: "Ljava/lang/String;"},
		{Name: "implClass", Type: "L", Class: "Ljava/lang/String;"},
		{Name: "implMethodName", Type: "L", Class: "Ljava/lang/String;"},
		{Name: "implMethodSignature", Type: "L", Class: "Ljava/lang/String;"},
		{Name: "instantiatedMethodType", Type: "L", Class: "Ljava/lang/String;"}}},
	// The lambda's capturing class travels as a java.lang.Class object:
	// not serializable, so SUID 0 and no flags.
	{Name: "scala.sys.package$", SUID: 0, Flags: 0},
}

// withExtras returns the release table plus extraClasses (entries the
// table has win).
func withExtras(base *javaser.ClassTable) (*javaser.ClassTable, error) {
	type file struct {
		Spark   string               `json:"spark"`
		Scala   string               `json:"scala"`
		Classes []javaser.ClassEntry `json:"classes"`
	}
	f := file{Spark: base.Spark, Scala: base.Scala}
	for _, n := range base.Names() {
		e, _ := base.Entry(n)
		f.Classes = append(f.Classes, e)
	}
	for _, e := range extraClasses {
		if _, ok := base.Entry(e.Name); !ok {
			f.Classes = append(f.Classes, e)
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return javaser.ParseClassTable(b)
}

func init() {
	base, err := suid.Default()
	if err != nil {
		panic(fmt.Sprintf("sparkmsg: %v", err)) // the table is embedded: a build error
	}
	t, err := withExtras(base)
	if err != nil {
		panic(fmt.Sprintf("sparkmsg: extending the class table: %v", err))
	}
	rpcenv.SetJavaClasses(t, t.Spark)
}
