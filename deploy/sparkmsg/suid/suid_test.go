package suid_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/deploy/sparkmsg/suid"
	"github.com/ember-rpc/ember/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite spark-<version>.json from the installed Spark's jars")

func TestLoad(t *testing.T) {
	if v := suid.Versions(); len(v) == 0 || v[len(v)-1] == "" {
		t.Fatalf("versions %v", v)
	}
	tab, err := suid.Default()
	if err != nil {
		t.Fatal(err)
	}
	if tab.Spark != suid.DefaultVersion {
		t.Fatalf("table for %s", tab.Spark)
	}
	// Every class of the messages the master and the app client exchange.
	for _, n := range []string{
		"org.apache.spark.deploy.DeployMessages$RegisterApplication",
		"org.apache.spark.deploy.DeployMessages$RegisteredApplication",
		"org.apache.spark.deploy.DeployMessages$ExecutorAdded",
		"org.apache.spark.deploy.DeployMessages$ExecutorUpdated",
		"org.apache.spark.deploy.DeployMessages$ApplicationRemoved",
		"org.apache.spark.deploy.DeployMessages$MasterChanged",
		"org.apache.spark.deploy.DeployMessages$RequestExecutors",
		"org.apache.spark.deploy.DeployMessages$KillExecutors",
		"org.apache.spark.deploy.DeployMessages$UnregisterApplication",
		"org.apache.spark.deploy.DeployMessages$RequestSubmitDriver",
		"org.apache.spark.deploy.DeployMessages$SubmitDriverResponse",
		"org.apache.spark.deploy.DeployMessages$RequestDriverStatus",
		"org.apache.spark.deploy.DeployMessages$DriverStatusResponse",
		"org.apache.spark.deploy.DeployMessages$RequestKillDriver",
		"org.apache.spark.deploy.DeployMessages$KillDriverResponse",
		"org.apache.spark.deploy.DeployMessages$RegisterWorker",
		"org.apache.spark.deploy.DeployMessages$LaunchExecutor",
		"org.apache.spark.deploy.ApplicationDescription",
		"org.apache.spark.deploy.Command",
		"org.apache.spark.deploy.DriverDescription",
		"org.apache.spark.deploy.ExecutorState$",
		"org.apache.spark.deploy.master.DriverState$",
		"org.apache.spark.resource.ResourceProfile",
		"org.apache.spark.resource.ExecutorResourceRequest",
		"org.apache.spark.resource.TaskResourceRequest",
		"org.apache.spark.rpc.RpcEndpointAddress",
		"org.apache.spark.rpc.RpcAddress",
		"org.apache.spark.rpc.RpcTimeout",
		"org.apache.spark.rpc.netty.NettyRpcEndpointRef",
		"org.apache.spark.rpc.netty.RpcEndpointVerifier$CheckExistence",
		"org.apache.spark.rpc.netty.RpcFailure",
		"scala.Some", "scala.None$", "scala.runtime.ModuleSerializationProxy",
		"scala.collection.generic.DefaultSerializationProxy", "scala.Enumeration$Val",
	} {
		if _, err := tab.Desc(n); err != nil {
			t.Errorf("%v", err)
		}
	}
	ref, _ := tab.Desc("org.apache.spark.rpc.netty.NettyRpcEndpointRef")
	if ref.Flags&javaser.SCWriteMethod == 0 || ref.Super == nil || ref.Super.FieldIndex("defaultAskTimeout") < 0 {
		t.Errorf("NettyRpcEndpointRef: %+v", ref)
	}
	if _, err := suid.Load("3.0.0"); err == nil || !strings.Contains(err.Error(), "3.0.0") {
		t.Errorf("Load(3.0.0): %v", err)
	}
	_, err = tab.Desc("org.apache.spark.deploy.DeployMessages$Nope")
	if !errors.Is(err, javaser.ErrUnknownClass) || !strings.Contains(err.Error(), "Spark 4.1.4") {
		t.Errorf("unknown class: %v", err)
	}
}

// The codec's golden class table is the same data.
func TestSameAsCodecGolden(t *testing.T) {
	a, err := os.ReadFile("spark-" + suid.DefaultVersion + ".json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "codec", "javaser", "testdata", "spark-"+suid.DefaultVersion, "classes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("deploy/sparkmsg/suid and codec/javaser/testdata hold different tables for the same Spark version")
	}
}

// TestLiveTable regenerates the table from the installed Spark's jars and
// fails when it differs from the committed one (-update rewrites it).
func TestLiveTable(t *testing.T) {
	home, java := testutil.RequireSpark(t)
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	classes := testutil.CompileJava(t, home, filepath.Join(root, "internal", "interop", "jvm", "javaser"))
	out := filepath.Join(t.TempDir(), "table.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := testutil.SparkJavaCommand(ctx, java, home, classes, "ember.interop.javaser.SuidTable", out)
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("SuidTable: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := javaser.ParseClassTable(got)
	if err != nil {
		t.Fatal(err)
	}
	name := "spark-" + tab.Spark + ".json"
	if *update {
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d classes)", name, len(tab.Names()))
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("no committed table for the installed Spark %s: run with -update (%v)", tab.Spark, err)
	}
	if !bytes.Equal(got, want) {
		old, _ := javaser.ParseClassTable(want)
		for _, n := range tab.Names() {
			e, _ := tab.Entry(n)
			o, ok := old.Entry(n)
			if !ok || o.SUID != e.SUID || o.Flags != e.Flags || len(o.Fields) != len(e.Fields) {
				t.Errorf("%s: installed jars give %+v, committed %+v", n, e, o)
			}
		}
		t.Fatalf("%s differs from the installed Spark %s's jars (run with -update to rewrite it)", name, tab.Spark)
	}
}
