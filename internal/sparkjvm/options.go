// Package sparkjvm holds facts about the JVMs a Spark 4.1 distribution
// runs, shared by the daemons that launch them and the tests that start
// them.
package sparkjvm

// ModuleOptions are the Java options Spark 4.1.4's launcher puts first on
// every JVM it starts on Java 17 and later (JavaModuleOptions'
// defaults): the JDK internals Spark reaches into are opened to the
// unnamed module, and Netty is told how to use them. The master puts them
// first in a REST-submitted driver's Java options, as Spark's REST server
// does; the tests start their JVM peers with them.
var ModuleOptions = []string{
	"-XX:+IgnoreUnrecognizedVMOptions",
	"--add-modules=jdk.incubator.vector",
	"--add-opens=java.base/java.lang=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
	"--add-opens=java.base/java.io=ALL-UNNAMED",
	"--add-opens=java.base/java.net=ALL-UNNAMED",
	"--add-opens=java.base/java.nio=ALL-UNNAMED",
	"--add-opens=java.base/java.util=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
	"--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
	"--add-opens=java.base/sun.security.action=ALL-UNNAMED",
	"--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
	"--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
	"-Djdk.reflect.useDirectMethodHandle=false",
	"-Dio.netty.tryReflectionSetAccessible=true",
	"-Dio.netty.allocator.type=pooled",
	"-Dio.netty.handler.ssl.defaultEndpointVerificationAlgorithm=NONE",
	"--enable-native-access=ALL-UNNAMED",
}
