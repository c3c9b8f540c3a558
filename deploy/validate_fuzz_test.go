package deploy

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzValidate decodes arbitrary JSON into every validated message and
// checks that Validate never panics and fails only with a ValidationError.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"id":"w","host":"127.0.0.1","port":1,"cores":1,"memory":1}`,
		`{"appDescription":{"name":"a","coresPerExecutor":0,"memoryPerExecutorMB":1099511627776,"command":{"mainClass":"x","environment":{"=":""}}}}`,
		`{"masterUrl":"spark://h:1","appId":"a","execId":-1,"appDesc":{"command":{"arguments":["\u0000"]}},"cores":1,"memory":1}`,
		`{"id":"w","executors":[{"appId":"","execId":1,"state":"Z"}],"driverIds":["d"]}`,
		`{"driverId":"d","driverDesc":{"mem":1,"cores":1,"command":{}},"resources":{"gpu":{"addresses":["0"]}}}`,
		`{"appId":"a","executorIds":["1","x"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []Validator{
			&RegisterWorker{}, &RegisterApplication{}, &LaunchExecutor{}, &LaunchDriver{}, &WorkerLatestState{},
			&WorkerSchedulerStateResponse{}, &ExecutorStateChanged{}, &DriverStateChanged{}, &KillExecutors{},
			&RequestExecutors{}, &RequestSubmitDriver{}, &MasterChanged{}, &RegisteredWorker{}, &Heartbeat{},
		} {
			if json.Unmarshal(b, m) != nil {
				continue
			}
			if err := m.Validate(); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%T: %v is not a ValidationError", m, err)
			}
		}
	})
}
