package worker

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
)

// Custom resources end to end: the worker offers what
// spark.worker.resourcesFile lists, an executor gets its share in a
// --resourcesFile, a second claim on the same address fails, and the
// address is free again once the executor is gone.
func TestCustomResources(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "worker-res.json")
	if err := os.WriteFile(file, []byte(`[{"id":{"componentName":"spark.worker","resourceName":"gpu"},"addresses":["0","1"]}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeMaster{}
	f.answer = func(r deploy.RegisterWorker) any {
		return deploy.RegisteredWorker{Master: f.self, MasterAddress: r.MasterAddress}
	}
	startFakeMaster(t, f)
	w := startWorker(t, workerSpec{masters: []string{f.url()},
		conf: []string{"spark.worker.resourcesFile", file, "spark.worker.resource.gpu.amount", "2"}})
	waitFor(t, "Registered()", w.Registered)
	var reg deploy.RegisterWorker
	for _, m := range f.d.messages() {
		if r, ok := m.(deploy.RegisterWorker); ok {
			reg = r
		}
	}
	if want := map[string]deploy.ResourceInformation{"gpu": {Name: "gpu", Addresses: []string{"0", "1"}}}; !reflect.DeepEqual(reg.Resources, want) {
		t.Fatalf("RegisterWorker resources %+v, want %+v", reg.Resources, want)
	}
	launch := deploy.LaunchExecutor{MasterURL: f.url(), AppID: "app-r", ExecID: 0, Cores: 1, MemoryMB: 10,
		AppDesc: appDesc(map[string]string{"FAKE_MODE": "sleep"}), Resources: gpus("1")}
	if err := reg.Worker.Send(launch); err != nil {
		t.Fatal(err)
	}
	out := output(t, filepath.Join(executorDir(w, "app-r", 0), "stdout"))
	var resFile string
	for i := 0; out["arg["+strconv.Itoa(i)+"]"] != ""; i++ {
		if out["arg["+strconv.Itoa(i)+"]"] == "--resourcesFile" {
			resFile = out["arg["+strconv.Itoa(i+1)+"]"]
		}
	}
	b, err := os.ReadFile(resFile)
	if err != nil || string(b) != `[{"id":{"componentName":"spark.executor","resourceName":"gpu"},"addresses":["1"]}]` {
		t.Fatalf("--resourcesFile %q: %q %v", resFile, b, err)
	}
	if st := workerState(t, w); !reflect.DeepEqual(st.ResourcesUsed["gpu"].Addresses, []string{"1"}) ||
		!reflect.DeepEqual(st.Resources["gpu"].Addresses, []string{"0", "1"}) {
		t.Fatalf("worker state resources %+v used %+v", st.Resources, st.ResourcesUsed)
	}
	second := launch
	second.ExecID = 1
	if err := reg.Worker.Send(second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "executor 1 FAILED", func() bool {
		for _, m := range f.d.messages() {
			if s, ok := m.(deploy.ExecutorStateChanged); ok && s.ExecID == 1 && s.State == deploy.ExecutorFailed &&
				s.Message != nil && strings.Contains(*s.Message, "resource gpu address 1 is in use") {
				return true
			}
		}
		return false
	})
	if err := reg.Worker.Send(deploy.KillExecutor{MasterURL: f.url(), AppID: "app-r", ExecID: 0}); err != nil {
		t.Fatal(err)
	}
	finishedExecutor(t, w, "app-r", 0)
	if st := workerState(t, w); len(st.ResourcesUsed) != 0 {
		t.Fatalf("resources still used after the executor: %+v", st.ResourcesUsed)
	}
}
