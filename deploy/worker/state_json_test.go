package worker

import (
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// TestSnapshotExecutorCoresAndDriverMainClass: the worker JSON carries each
// executor's own cores (appdesc's cores is the app's spark.cores.max, 0
// when unset), and a driver's main class is the user's class under
// DriverWrapper, else the command's program, never one of its arguments.
func TestSnapshotExecutorCoresAndDriverMainClass(t *testing.T) {
	steps := append(registeredOpening(),
		launchExec(m1URL, "app-1", 0, 3, 100, nil).then(`mkdir /work/app-1/0
			localdirs app-1
			launch executor app-1/0 cores=3 mem=100 dir=/work/app-1/0 local=[/tmp/executor-app-1]`),
		ev("LaunchDriver DriverWrapper", func(c *Core, _ *fakeFx) {
			c.LaunchDriver(deploy.LaunchDriver{DriverID: "driver-1", Desc: deploy.DriverDescription{Cores: 1, MemoryMB: 10,
				Command: deploy.Command{MainClass: deploy.DriverWrapperClass,
					Arguments: []string{"{{WORKER_URL}}", "{{USER_JAR}}", "com.example.Main", "arg1"}}}})
		}).then(`launch driver driver-1 cores=1 mem=10 dir=/work/driver-1`),
		ev("LaunchDriver Go program", func(c *Core, _ *fakeFx) {
			c.LaunchDriver(deploy.LaunchDriver{DriverID: "driver-2", Desc: deploy.DriverDescription{Cores: 1, MemoryMB: 10,
				Command: deploy.Command{MainClass: "/opt/jobs/wordcount", Arguments: []string{"-in", "x", "-out", "y"}}}})
		}).then(`launch driver driver-2 cores=1 mem=10 dir=/work/driver-2`).and(func(t *testing.T, c *Core) {
			s := c.Snapshot()
			if len(s.Executors) != 1 || s.Executors[0].Cores != 3 || s.Executors[0].AppDesc.Cores != 0 {
				t.Errorf("executors %+v, want cores 3 (appdesc cores 0)", s.Executors)
			}
			main := map[string]string{}
			for _, d := range s.Drivers {
				main[d.ID] = d.MainClass
			}
			if main["driver-1"] != "com.example.Main" || main["driver-2"] != "/opt/jobs/wordcount" {
				t.Errorf("main classes %v", main)
			}
		}),
	)
	run(t, testCoreConfig(), steps...)
}
