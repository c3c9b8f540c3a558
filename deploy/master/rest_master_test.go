package master

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/internal/testutil"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// The server a real master starts: bound on its own port, answering over
// HTTP, closed by Shutdown (the leak check runs after it).
func TestRESTServerOnAMaster(t *testing.T) {
	eachIOMode(t, func(t *testing.T, conf *sparkconf.Conf) {
		m := startMaster(t, conf.Set("spark.master.rest.port", "0"))
		port := m.RESTPort()
		if port == 0 {
			t.Fatal("no REST server on a master with the default configuration")
		}
		base := fmt.Sprintf("http://127.0.0.1:%d/v1/submissions/", port)
		client := &http.Client{Timeout: hangLimit}
		defer client.CloseIdleConnections()
		call := func(method, path, body string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s %s: %v: %q", method, path, err, b)
			}
			return resp.StatusCode, v
		}
		testutil.Eventually(t, hangLimit, "the master ALIVE", func() (bool, string) {
			code, v := call("GET", "readyz", "")
			return code == 200, fmt.Sprint(code, v)
		})
		code, v := call("POST", "create", createJSON(nil))
		id, _ := v["submissionId"].(string)
		if code != 200 || v["success"] != true || id == "" {
			t.Fatalf("create: %d %v", code, v)
		}
		if _, v = call("GET", "status/"+id, ""); v["driverState"] != "SUBMITTED" {
			t.Errorf("status of a driver no worker can take: %v", v)
		}
		if _, v = call("POST", "kill/"+id, ""); v["success"] != true {
			t.Errorf("kill: %v", v)
		}
		st, err := m.MasterState()
		if err != nil || len(st.CompletedDrivers) != 1 || st.CompletedDrivers[0].State != deploy.DriverKilled {
			t.Errorf("completed drivers after the kill: %+v %v", st.CompletedDrivers, err)
		}
		if code, _ = call("POST", "clear", ""); code != 200 {
			t.Errorf("clear: %d", code)
		}
		if st, _ = m.MasterState(); len(st.CompletedDrivers) != 0 {
			t.Errorf("completed drivers after clear: %+v", st.CompletedDrivers)
		}
	})
}
