package sparkmsg_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/deploy"
	_ "github.com/ember-rpc/ember/deploy/sparkmsg"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/rpcenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testutil.ReactorGoroutines...) }

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "codec", "javaser", "testdata", "spark-4.1.4", name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is a client-mode env: what converts, with Spark's default ask
// timeout (120 s under spark.rpc.askTimeout, as the goldens carry).
func env(t testing.TB) *rpcenv.Env {
	t.Helper()
	e, err := rpcenv.Create(rpcenv.Config{Name: "sparkmsg-test", ClientMode: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func ptr[T any](v T) *T { return &v }

func ea(host string, port int, name string) rpcenv.EndpointAddress {
	return rpcenv.EndpointAddress{Addr: rpcenv.NewAddress(host, port), Name: name}
}

// The JVM's deploy messages read as Ember's.
func TestFromJavaGoldens(t *testing.T) {
	e := env(t)
	execCmd := deploy.Command{
		MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend",
		Arguments: []string{"--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40123",
			"--executor-id", "{{EXECUTOR_ID}}", "--hostname", "{{HOSTNAME}}", "--cores", "{{CORES}}",
			"--app-id", "{{APP_ID}}", "--worker-url", "{{WORKER_URL}}", "--resourceProfileId", "{{RESOURCE_PROFILE_ID}}"},
		Environment: map[string]string{"SPARK_EXECUTOR_MEMORY": "1024m", "SPARK_USER": "ember"},
		JavaOpts: []string{"-Dspark.driver.port=40123", "-XX:+IgnoreUnrecognizedVMOptions",
			"--add-opens=java.base/java.lang=ALL-UNNAMED", "-Djdk.reflect.useDirectMethodHandle=false"},
	}
	for name, want := range map[string]any{
		"register-application": deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{
			Name: "Spark Pi", MaxCores: ptr(4), Command: execCmd, AppUIURL: "http://127.0.0.1:4040",
			MemoryPerExecutorMB: 1024, CoresPerExecutor: ptr(2), User: "ember"}},
		"register-application-minimal": deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{
			Name: "minimal", Command: execCmd, AppUIURL: "http://127.0.0.1:4040",
			MemoryPerExecutorMB: 1024, CoresPerExecutor: ptr(2), InitialExecutorLimit: ptr(0), User: "ember"}},
		"unregister-application":     deploy.UnregisterApplication{AppID: "app-20261207080000-0000"},
		"master-change-acknowledged": deploy.MasterChangeAcknowledged{AppID: "app-20261207080000-0000"},
		"request-executors":          deploy.RequestExecutors{AppID: "app-20261207080000-0000", RequestedTotal: 2},
		"kill-executors":             deploy.KillExecutors{AppID: "app-20261207080000-0000", ExecutorIDs: []string{"1", "2"}},
		"request-driver-status":      deploy.RequestDriverStatus{DriverID: "driver-20261207080000-0000"},
		"request-kill-driver":        deploy.RequestKillDriver{DriverID: "driver-20261207080000-0000"},
		"request-submit-driver": deploy.RequestSubmitDriver{Desc: deploy.DriverDescription{
			JarURL: "file:/tmp/example.jar", MemoryMB: 1024, Cores: 1, Command: deploy.Command{
				MainClass:   "org.apache.spark.deploy.worker.DriverWrapper",
				Arguments:   []string{"{{WORKER_URL}}", "{{USER_JAR}}", "org.example.Main", "arg1"},
				Environment: map[string]string{"SPARK_USER": "ember"},
				JavaOpts:    []string{"-Dspark.master=spark://127.0.0.1:7077", "-Dspark.app.name=example"}}}},
		"executor-added": deploy.ExecutorAdded{ID: 0, WorkerID: "worker-20261207080000-127.0.0.1-35000",
			HostPort: "127.0.0.1:35000", Cores: 2, MemoryMB: 1024},
		"executor-updated-running": deploy.ExecutorUpdated{ID: 0, State: deploy.ExecutorRunning},
		"executor-updated-lost": deploy.ExecutorUpdated{ID: 2, State: deploy.ExecutorLost,
			Message: ptr("worker lost"), ExitStatus: ptr(-1)},
		"application-removed": deploy.ApplicationRemoved{Message: "Master removed our application: KILLED"},
		"worker-removed": deploy.WorkerRemoved{ID: "worker-1", Host: "127.0.0.1",
			Message: "Not receiving heartbeat for 60 seconds"},
		"kill-driver-response": deploy.KillDriverResponse{DriverID: "driver-20261207080000-0000", Success: true,
			Message: "Kill request for driver-20261207080000-0000 submitted"},
		"submit-driver-response": deploy.SubmitDriverResponse{Success: true, DriverID: ptr("driver-20261207080000-0000"),
			Message: "Driver successfully submitted as driver-20261207080000-0000"},
		"driver-status-response": deploy.DriverStatusResponse{Found: true, State: ptr(deploy.DriverRunning),
			WorkerID: ptr("worker-1"), WorkerHostPort: ptr("127.0.0.1:35000")},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := e.DecodeJavaContent(golden(t, name))
			if err != nil {
				t.Fatal(err)
			}
			// Refs are checked apart: they carry their env.
			if ra, ok := got.(deploy.RegisterApplication); ok {
				if ra.Driver == nil || !ra.Driver.Java() || ra.Driver.Address() != ea("127.0.0.1", 40123, "AppClient") {
					t.Errorf("driver ref: %v", ra.Driver)
				}
				ra.Driver = nil
				got = ra
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
		})
	}
	for _, name := range []string{"registered-application", "master-changed"} {
		got, err := e.DecodeJavaContent(golden(t, name))
		if err != nil {
			t.Fatal(name, err)
		}
		var r *rpcenv.Ref
		switch m := got.(type) {
		case deploy.RegisteredApplication:
			r = m.Master
		case deploy.MasterChanged:
			r = m.Master
		}
		if r == nil || r.Address() != ea("127.0.0.1", 7077, "Master") {
			t.Errorf("%s: master ref %v", name, r)
		}
	}
}

// Ember's messages written for a JVM are the JVM's own bytes.
func TestToJavaGoldens(t *testing.T) {
	e := env(t)
	master := e.JavaRefFor(ea("127.0.0.1", 7077, "Master"))
	for name, msg := range map[string]any{
		"registered-application": deploy.RegisteredApplication{AppID: "app-20261207080000-0000", Master: master},
		"master-changed":         deploy.MasterChanged{Master: master, MasterWebUIURL: "http://127.0.0.1:8080"},
		"executor-added": deploy.ExecutorAdded{ID: 0, WorkerID: "worker-20261207080000-127.0.0.1-35000",
			HostPort: "127.0.0.1:35000", Cores: 2, MemoryMB: 1024},
		"executor-updated-running": deploy.ExecutorUpdated{ID: 0, State: deploy.ExecutorRunning},
		"executor-updated-lost": deploy.ExecutorUpdated{ID: 2, State: deploy.ExecutorLost,
			Message: ptr("worker lost"), ExitStatus: ptr(-1)},
		"application-removed": deploy.ApplicationRemoved{Message: "Master removed our application: KILLED"},
		"worker-removed": deploy.WorkerRemoved{ID: "worker-1", Host: "127.0.0.1",
			Message: "Not receiving heartbeat for 60 seconds"},
		"master-change-acknowledged": deploy.MasterChangeAcknowledged{AppID: "app-20261207080000-0000"},
		"unregister-application":     deploy.UnregisterApplication{AppID: "app-20261207080000-0000"},
		"kill-executors":             deploy.KillExecutors{AppID: "app-20261207080000-0000", ExecutorIDs: []string{"1", "2"}},
		"request-driver-status":      deploy.RequestDriverStatus{DriverID: "driver-20261207080000-0000"},
		"request-kill-driver":        deploy.RequestKillDriver{DriverID: "driver-20261207080000-0000"},
		"boolean-true":               true,
		"check-existence":            checkExistence(t),
		"endpoint-ref":               master,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := e.AppendJavaContent(nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := golden(t, name); !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Errorf("differs from the JVM's stream at offset %d (%d vs %d bytes)", i, len(got), len(want))
			}
		})
	}
}

// checkExistence is the verifier's question as the JVM writes it (rpcenv
// reads it back to its own type, so it round-trips through the golden).
func checkExistence(t testing.TB) any {
	v, err := env(t).DecodeJavaContent(golden(t, "check-existence"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every message Ember writes reads back as itself, and so does what the
// master reads (RegisterApplication, RequestSubmitDriver, ...) when Ember
// writes it.
func TestRoundTrip(t *testing.T) {
	e := env(t)
	driver := e.JavaRefFor(ea("10.0.0.5", 41000, "AppClient"))
	for _, msg := range []any{
		deploy.RegisterApplication{AppDescription: deploy.ApplicationDescription{Name: "app", Command: deploy.Command{
			MainClass: "org.apache.spark.executor.CoarseGrainedExecutorBackend", Arguments: []string{"--cores", "{{CORES}}"},
			Environment: map[string]string{"A": "1", "B": "2", "C": "3", "D": "4", "E": "5"}, JavaOpts: []string{"-Dx=y"}},
			AppUIURL: "http://h:4040", MemoryPerExecutorMB: 2048, CoresPerExecutor: ptr(3), InitialExecutorLimit: ptr(0), User: "u"},
			Driver: driver},
		deploy.RequestExecutors{AppID: "app-1", RequestedTotal: 7},
		deploy.RequestSubmitDriver{Desc: deploy.DriverDescription{JarURL: "file:/a.jar", MemoryMB: 512, Cores: 2, Supervise: true,
			Command: deploy.Command{MainClass: "org.apache.spark.deploy.worker.DriverWrapper", Arguments: []string{"{{WORKER_URL}}"}}}},
		deploy.ExecutorUpdated{ID: 3, State: deploy.ExecutorExited, Message: ptr("Command exited with code 0"), ExitStatus: ptr(0), WorkerHost: ptr("h")},
		deploy.DriverStatusResponse{Found: false},
		deploy.SubmitDriverResponse{Success: false, Message: "no"},
	} {
		b, err := e.AppendJavaContent(nil, msg)
		if err != nil {
			t.Fatalf("%T: %v", msg, err)
		}
		back, err := e.DecodeJavaContent(b)
		if err != nil {
			t.Fatalf("%T: %v", msg, err)
		}
		if ra, ok := back.(deploy.RegisterApplication); ok {
			if ra.Driver.Address() != driver.Address() {
				t.Errorf("driver ref %v", ra.Driver)
			}
			ra.Driver = driver
			back = ra
		}
		if !reflect.DeepEqual(back, msg) {
			t.Errorf("round trip:\n got %#v\nwant %#v", back, msg)
		}
	}
}

// A message with a field of the wrong shape is refused, naming the field.
func TestBadShapes(t *testing.T) {
	e := env(t)
	b, err := e.AppendJavaContent(nil, deploy.ExecutorUpdated{ID: 1, State: "BOGUS"})
	if err == nil {
		t.Errorf("a state with no Spark id was written: %x", b)
	}
	// KillExecutors whose ids hold an Integer, not a string.
	v, err := e.AppendJavaContent(nil, deploy.KillExecutors{AppID: "a", ExecutorIDs: []string{"1"}})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(v, []byte{0x74, 0x00, 0x01, '1'}) // TC_STRING "1"
	if i < 0 {
		t.Fatal("no id string in the stream")
	}
	bad := append(append(append([]byte{}, v[:i]...), 0x70), v[i+4:]...) // null instead of "1"
	if _, err := e.DecodeJavaContent(bad); err == nil || !errors.Is(err, rpcenv.ErrJavaContent) {
		t.Errorf("null executor id: %v", err)
	}
}

// FuzzSparkMessages: any stream, read as the master reads a JVM's
// message, is refused cleanly or converted; a converted message writes.
func FuzzSparkMessages(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "codec", "javaser", "testdata", "spark-4.1.4", "*.ser"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	e := env(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := e.DecodeJavaContent(b)
		if err != nil {
			if !errors.Is(err, rpcenv.ErrJavaContent) {
				t.Fatalf("error without ErrJavaContent: %v", err)
			}
			return
		}
		if _, err := e.AppendJavaContent(nil, v); err != nil && !errors.Is(err, rpcenv.ErrJavaContent) {
			t.Fatalf("writing back %T: %v", v, err)
		}
	})
}

// A cluster-mode submission's command environment is sys.env: a
// Map.WithDefault with a lambda default (testdata/sys-env.ser is what the
// JVM writes for sys.env with PATH=/usr/bin and A=1). Its map is read.
func TestSysEnvEnvironment(t *testing.T) {
	sysEnv, err := os.ReadFile(filepath.Join("testdata", "sys-env.ser"))
	if err != nil {
		t.Fatal(err)
	}
	withDefault, err := javaser.Unmarshal(sysEnv)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := javaser.Unmarshal(golden(t, "request-submit-driver"))
	if err != nil {
		t.Fatal(err)
	}
	dd, _ := raw.(*javaser.Object).ObjectField("driverDescription")
	cmd, _ := dd.ObjectField("command")
	if err := cmd.Set("environment", withDefault); err != nil {
		t.Fatal(err)
	}
	b, err := javaser.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env(t).DecodeJavaContent(b)
	if err != nil {
		t.Fatalf("a submission with sys.env: %v", err)
	}
	rs, ok := got.(deploy.RequestSubmitDriver)
	if want := map[string]string{"PATH": "/usr/bin", "A": "1"}; !ok || !reflect.DeepEqual(rs.Desc.Command.Environment, want) {
		t.Errorf("environment %#v, want %v", got, want)
	}
}
