package javaser_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/codec/javaser/scala"
)

// What a deploy-message mapper on top of this package does: the Spark
// 4.1.4 objects of the golden catalog, built in Go from the class table.

const (
	pkgDeploy = "org.apache.spark.deploy."
	msgs      = pkgDeploy + "DeployMessages$"
	appID     = "app-20261207080000-0000"
	driverID  = "driver-20261207080000-0000"
)

type sparkBuilder struct {
	*scala.Builder
	// user is one String instance, as the driver's SPARK_USER and the
	// application's user are (the JVM then writes it once).
	user *javaser.String
}

func (b sparkBuilder) ref(host string, port int32, name string) *javaser.Object {
	addr := b.New("org.apache.spark.rpc.RpcEndpointAddress",
		"rpcAddress", b.New("org.apache.spark.rpc.RpcAddress", "host", host, "port", port),
		"name", name,
		"toString", fmt.Sprintf("spark://%s@%s:%d", name, host, port))
	timeout := b.New("org.apache.spark.rpc.RpcTimeout",
		"duration", b.FiniteDuration(120, "SECONDS"), "timeoutProp", "spark.rpc.askTimeout")
	return b.New("org.apache.spark.rpc.netty.NettyRpcEndpointRef", "endpointAddress", addr, "defaultAskTimeout", timeout)
}

func (b sparkBuilder) profile() *javaser.Object {
	// Spark uses one String instance for a resource's map key and its
	// request's name, and one for the empty script and vendor.
	cores, memory, offHeap, cpus, empty := javaser.Str("cores"), javaser.Str("memory"), javaser.Str("offHeap"), javaser.Str("cpus"), javaser.Str("")
	req := func(name *javaser.String, amount int64) *javaser.Object {
		return b.New("org.apache.spark.resource.ExecutorResourceRequest",
			"resourceName", name, "amount", amount, "discoveryScript", empty, "vendor", empty)
	}
	return b.New("org.apache.spark.resource.ResourceProfile",
		"executorResources", b.Map(
			scala.Pair{Key: cores, Value: req(cores, 2)},
			scala.Pair{Key: memory, Value: req(memory, 1024)},
			scala.Pair{Key: offHeap, Value: req(offHeap, 0)}),
		"taskResources", b.Map(scala.Pair{Key: cpus, Value: b.New("org.apache.spark.resource.TaskResourceRequest", "resourceName", cpus, "amount", 1.0)}),
		"_id", 0,
		"_executorResourceSlotsPerAddr", b.None(), "_limitingResource", b.None(), "_maxTasksPerExecutor", b.None())
}

func (b sparkBuilder) executorCommand() *javaser.Object {
	return b.New(pkgDeploy+"Command",
		"mainClass", "org.apache.spark.executor.CoarseGrainedExecutorBackend",
		"arguments", b.Strings("--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40123",
			"--executor-id", "{{EXECUTOR_ID}}", "--hostname", "{{HOSTNAME}}",
			"--cores", "{{CORES}}", "--app-id", "{{APP_ID}}",
			"--worker-url", "{{WORKER_URL}}", "--resourceProfileId", "{{RESOURCE_PROFILE_ID}}"),
		"environment", b.MutableHashMap(
			scala.Pair{Key: "SPARK_EXECUTOR_MEMORY", Value: "1024m"}, scala.Pair{Key: "SPARK_USER", Value: b.user}),
		"classPathEntries", b.List(), "libraryPathEntries", b.List(),
		"javaOpts", b.ArraySeq("java.lang.String", "-Dspark.driver.port=40123", "-XX:+IgnoreUnrecognizedVMOptions",
			"--add-opens=java.base/java.lang=ALL-UNNAMED", "-Djdk.reflect.useDirectMethodHandle=false"))
}

// sparkObjects returns Ember-built twins of golden streams, by golden name.
// hashOrdered names those whose bytes may differ from the JVM's only in
// hash-collection order.
func sparkObjects(tab javaser.Classes) (objs map[string]any, hashOrdered map[string]bool, err error) {
	b := sparkBuilder{scala.NewBuilder(tab), javaser.Str("ember")}
	master := b.ref("127.0.0.1", 7077, "Master")
	appClient := b.ref("127.0.0.1", 40123, "AppClient")
	prof := b.profile()
	app := b.New(pkgDeploy+"ApplicationDescription",
		"name", "Spark Pi", "maxCores", b.Some(b.Int(4)), "command", b.executorCommand(),
		"appUiUrl", "http://127.0.0.1:4040", "defaultProfile", prof,
		"eventLogDir", b.Some(b.URI("file:/tmp/spark-events")), "eventLogCodec", b.None(),
		"initialExecutorLimit", b.None(), "user", b.user)
	b2 := sparkBuilder{scala.NewBuilder(tab), javaser.Str("ember")}
	appMin := b2.New(pkgDeploy+"ApplicationDescription",
		"name", "minimal", "maxCores", b2.None(), "command", b2.executorCommand(),
		"appUiUrl", "http://127.0.0.1:4040", "defaultProfile", b2.profile(),
		"eventLogDir", b2.None(), "eventLogCodec", b2.Some("zstd"),
		"initialExecutorLimit", b2.Some(b2.Int(0)), "user", b2.user)
	driverCmd := b.New(pkgDeploy+"Command",
		"mainClass", "org.apache.spark.deploy.worker.DriverWrapper",
		"arguments", b.Strings("{{WORKER_URL}}", "{{USER_JAR}}", "org.example.Main", "arg1"),
		"environment", b.StringMap("SPARK_USER", "ember"),
		"classPathEntries", b.List(), "libraryPathEntries", b.List(),
		"javaOpts", b.Strings("-Dspark.master=spark://127.0.0.1:7077", "-Dspark.app.name=example"))
	kv := make([]scala.Pair, 40)
	for i := range kv {
		kv[i] = scala.Pair{Key: fmt.Sprintf("k%d", i), Value: fmt.Sprintf("v%d", i)}
	}
	objs = map[string]any{
		"boolean-true":    b.Bool(true),
		"check-existence": b.New("org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence", "name", "Master"),
		"endpoint-ref":    master,
		"register-application": b.New(msgs+"RegisterApplication",
			"appDescription", app, "driver", appClient),
		"register-application-minimal": b2.New(msgs+"RegisterApplication",
			"appDescription", appMin, "driver", b2.ref("127.0.0.1", 40123, "AppClient")),
		"registered-application": b.New(msgs+"RegisteredApplication", "appId", appID, "master", master),
		"executor-added": b.New(msgs+"ExecutorAdded", "id", 0, "workerId", "worker-20261207080000-127.0.0.1-35000",
			"hostPort", "127.0.0.1:35000", "cores", 2, "memory", 1024),
		"executor-updated-running": b.New(msgs+"ExecutorUpdated", "id", 0,
			"state", b.EnumValue(pkgDeploy+"ExecutorState$", 1),
			"message", b.None(), "exitStatus", b.None(), "workerHost", b.None()),
		"executor-updated-lost": b.New(msgs+"ExecutorUpdated", "id", 2,
			"state", b.EnumValue(pkgDeploy+"ExecutorState$", 4),
			"message", b.Some("worker lost"), "exitStatus", b.Some(b.Int(-1)), "workerHost", b.None()),
		"application-removed": b.New(msgs+"ApplicationRemoved", "message", "Master removed our application: KILLED"),
		"worker-removed": b.New(msgs+"WorkerRemoved", "id", "worker-1", "host", "127.0.0.1",
			"message", "Not receiving heartbeat for 60 seconds"),
		"master-changed":             b.New(msgs+"MasterChanged", "master", master, "masterWebUiUrl", "http://127.0.0.1:8080"),
		"master-change-acknowledged": b.New(msgs+"MasterChangeAcknowledged", "appId", appID),
		"unregister-application":     b.New(msgs+"UnregisterApplication", "appId", appID),
		"request-executors": b.New(msgs+"RequestExecutors", "appId", appID,
			"resourceProfileToTotalExecs", b.Map(scala.Pair{Key: prof, Value: b.Int(2)})),
		"kill-executors": b.New(msgs+"KillExecutors", "appId", appID, "executorIds", b.Strings("1", "2")),
		"request-submit-driver": b.New(msgs+"RequestSubmitDriver", "driverDescription", b.New(pkgDeploy+"DriverDescription",
			"jarUrl", "file:/tmp/example.jar", "mem", 1024, "cores", 1, "supervise", false,
			"command", driverCmd, "resourceReqs", b.List())),
		"submit-driver-response": b.New(msgs+"SubmitDriverResponse", "master", master, "success", true,
			"driverId", b.Some(driverID), "message", "Driver successfully submitted as "+driverID),
		"request-driver-status": b.New(msgs+"RequestDriverStatus", "driverId", driverID),
		"driver-status-response": b.New(msgs+"DriverStatusResponse", "found", true,
			"state", b.Some(b.EnumValue(pkgDeploy+"master.DriverState$", 1)),
			"workerId", b.Some("worker-1"), "workerHostPort", b.Some("127.0.0.1:35000"), "exception", b.None()),
		"request-kill-driver": b.New(msgs+"RequestKillDriver", "driverId", driverID),
		"kill-driver-response": b.New(msgs+"KillDriverResponse", "master", master, "driverId", driverID,
			"success", true, "message", "Kill request for "+driverID+" submitted"),
		"map-40": b.Map(kv...),
	}
	if err := b.Err(); err != nil {
		return nil, nil, err
	}
	if err := b2.Err(); err != nil {
		return nil, nil, err
	}
	return objs, map[string]bool{"map-40": true}, nil
}

// Ember-built Spark messages are the JVM's bytes (hash maps aside).
func TestEmberBuiltSparkMessages(t *testing.T) {
	objs, hashOrdered, err := sparkObjects(loadTable(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range objs {
		got, err := javaser.Marshal(v)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := goldenBytes(t, name)
		if hashOrdered[name] {
			if len(got) != len(want) {
				t.Errorf("%s: %d bytes, the JVM wrote %d", name, len(got), len(want))
			}
			continue
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Errorf("%s: differs from the JVM's stream at offset %d (%d vs %d bytes)\n got ...%x\nwant ...%x",
				name, i, len(got), len(want), got[i:min(len(got), i+40)], want[i:min(len(want), i+40)])
		}
	}
}
