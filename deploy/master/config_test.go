package master

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

func TestConfigFromSparkDefaults(t *testing.T) {
	c, err := ConfigFromSpark(sparkconf.New())
	if err != nil {
		t.Fatal(err)
	}
	if c != DefaultConfig() {
		t.Errorf("defaults\n got %+v\nwant %+v", c, DefaultConfig())
	}
}

func TestConfigFromSpark(t *testing.T) {
	c, err := ConfigFromSpark(sparkconf.FromMap(map[string]string{
		"spark.worker.timeout":               "30",
		"spark.dead.worker.persistence":      "3",
		"spark.deploy.spreadOut":             "false", // the old name
		"spark.deploy.spreadOutDrivers":      "false",
		"spark.deploy.defaultCores":          "4",
		"spark.deploy.maxDrivers":            "5",
		"spark.deploy.maxExecutorRetries":    "-1",
		"spark.deploy.retainedApplications":  "7",
		"spark.deploy.retainedDrivers":       "8",
		"spark.deploy.appNumberModulo":       "100",
		"spark.deploy.workerSelectionPolicy": "worker_id",
		"spark.deploy.appIdPattern":          "a-%s-%d",
		"spark.deploy.driverIdPattern":       "d-%s-%d",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.WorkerTimeout, want.RecoveryTimeout = 30*time.Second, 30*time.Second // recovery timeout defaults to the worker's
	want.DeadWorkerPersistence = 3
	want.SpreadOutApps, want.SpreadOutDrivers = false, false
	want.DefaultCores, want.MaxDrivers, want.MaxExecutorRetries = 4, 5, -1
	want.RetainedApps, want.RetainedDrivers, want.AppNumberModulo = 7, 8, 100
	want.WorkerSelectionPolicy = "WORKER_ID"
	want.AppIDPattern, want.DriverIDPattern = "a-%s-%d", "d-%s-%d"
	if c != want {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}

	// The new names win over the old one; the recovery timeout has its own key.
	c, err = ConfigFromSpark(sparkconf.FromMap(map[string]string{
		"spark.deploy.spreadOut": "false", "spark.deploy.spreadOutApps": "true", "spark.deploy.recoveryTimeout": "90s"}))
	if err != nil || !c.SpreadOutApps || c.RecoveryTimeout != 90*time.Second || c.WorkerTimeout != 60*time.Second {
		t.Errorf("got %+v, %v", c, err)
	}
}

func TestConfigFromSparkRejects(t *testing.T) {
	cases := []struct {
		key, value, why string
	}{
		// As Spark (SPARK-45753/45754): "Whitespace is not allowed".
		{"spark.deploy.appIdPattern", "my app", "whitespace"},
		{"spark.deploy.driverIdPattern", "my driver", "whitespace"},
		// Spark's String.format throws MissingFormatArgumentException.
		{"spark.deploy.appIdPattern", "app-%s-%s-%04d", "a third argument"},
		{"spark.deploy.driverIdPattern", "driver-%s-%d-%d", "a third argument"},
		// Ember only: ids name directories, so no path separators.
		{"spark.deploy.appIdPattern", "app/%s-%04d", "a path separator"},
		{"spark.deploy.driverIdPattern", `driver\%s-%04d`, "a path separator"},
		// Ember only: Go's Sprintf cannot ignore an unused argument as Java's
		// String.format does, so a pattern must use the number.
		{"spark.deploy.appIdPattern", "app-%s", "no number"},
		{"spark.deploy.workerSelectionPolicy", "RANDOM", "unknown policy"},
		{"spark.deploy.defaultCores", "0", "not positive"},
		{"spark.deploy.maxDrivers", "many", "not a number"},
		{"spark.worker.timeout", "soon", "not a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, err := ConfigFromSpark(sparkconf.New().Set(tc.key, tc.value))
			if err == nil {
				t.Fatalf("accepted (%s)", tc.why)
			}
			if !strings.Contains(err.Error(), tc.key) && !strings.Contains(err.Error(), tc.value) {
				t.Errorf("error %q names neither the key nor the value", err)
			}
		})
	}
}

// Spark's patterns are Java format strings: explicit argument indexes work.
func TestJavaIDPatterns(t *testing.T) {
	t.Run("SPARK-45754 app id pattern", func(t *testing.T) {
		h := newAliveFromConf(t, "spark.deploy.appIdPattern", "my-app-%2$05d")
		for i, want := range []string{"my-app-00000", "my-app-00001"} {
			if got, _ := h.addApp(appDesc(512)); got != want {
				t.Errorf("app #%d: %q, want %q", i, got, want)
			}
		}
	})
	t.Run("SPARK-45753 driver id pattern", func(t *testing.T) {
		h := newAliveFromConf(t, "spark.deploy.driverIdPattern", "my-driver-%2$05d")
		for i, want := range []string{"my-driver-00000", "my-driver-00001"} {
			if got := h.submit(driverDesc(1, 512, false)); got != want {
				t.Errorf("driver #%d: %q, want %q", i, got, want)
			}
		}
	})
	t.Run("SPARK-45785 rotate the app number with modulo", func(t *testing.T) {
		h := newAliveFromConf(t, "spark.deploy.appIdPattern", "%2$d", "spark.deploy.appNumberModulo", "1000")
		for i := 0; i <= 2000; i++ {
			if got, _ := h.addApp(appDesc(512)); got != fmt.Sprint(i%1000) {
				t.Fatalf("app #%d: %q, want %d", i, got, i%1000)
			}
			h.s.UnregisterApplication(fmt.Sprint(i % 1000))
		}
	})
	t.Run("both arguments reordered, literal percent kept", func(t *testing.T) {
		h := newAliveFromConf(t, "spark.deploy.appIdPattern", "%2$03d_%1$s_100%%")
		if got, _ := h.addApp(appDesc(512)); got != "000_20260102030405_100%" {
			t.Errorf("got %q", got)
		}
	})
}

func newAliveFromConf(t *testing.T, kv ...string) *harness {
	t.Helper()
	conf := sparkconf.New()
	for i := 0; i+1 < len(kv); i += 2 {
		conf.Set(kv[i], kv[i+1])
	}
	cfg, err := ConfigFromSpark(conf)
	if err != nil {
		t.Fatal(err)
	}
	return newAlive(t, func(c *Config) { cfg.MasterURL, cfg.WebUIURL = c.MasterURL, c.WebUIURL; *c = cfg })
}

func TestJavaIndexes(t *testing.T) {
	for in, want := range map[string]string{
		"app-%s-%04d":      "app-%s-%04d",
		"my-app-%2$05d":    "my-app-%05[2]d",
		"%2$d":             "%[2]d",
		"%1$s-%2$-6d":      "%[1]s-%-6[2]d",
		"100%%2$d":         "100%%2$d",
		"%%%2$d":           "%%%[2]d",
		"trailing %":       "trailing %",
		"%12":              "%12",
		"%2$":              "%[2]",
		"no directives":    "no directives",
		"driver-%s-%1$04d": "driver-%s-%04[1]d",
	} {
		if got := javaIndexes(in); got != want {
			t.Errorf("javaIndexes(%q) = %q, want %q", in, got, want)
		}
	}
}
