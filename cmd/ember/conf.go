package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// confFlags collects repeated --conf key=value flags.
type confFlags []string

func (c *confFlags) String() string     { return strings.Join(*c, ",") }
func (c *confFlags) Set(v string) error { *c = append(*c, v); return nil }

// daemonOptsEnv are the JVM option variables Spark's launcher gives each
// daemon, in the order the JVM reads them (a later -D wins).
var daemonOptsEnv = map[string][]string{
	"master":          {"SPARK_DAEMON_JAVA_OPTS", "SPARK_MASTER_OPTS"},
	"worker":          {"SPARK_DAEMON_JAVA_OPTS", "SPARK_WORKER_OPTS"},
	"shuffle-service": {"SPARK_DAEMON_JAVA_OPTS", "SPARK_SHUFFLE_OPTS"},
}

// loadedConf is a daemon's or submit's configuration and where it came
// from.
type loadedConf struct {
	conf *sparkconf.Conf
	// file is the properties file read ("" for none).
	file string
}

// loadConf builds the configuration of role ("master", "worker",
// "shuffle-service"; any other role reads no option variables) as Spark's
// daemons do, lowest precedence first:
//
//  1. the properties file: propsFile, else spark-defaults.conf in the conf
//     dir (see confDir);
//  2. the -Dspark.* options of the role's option variables
//     (SPARK_DAEMON_JAVA_OPTS, then SPARK_MASTER_OPTS / SPARK_WORKER_OPTS /
//     SPARK_SHUFFLE_OPTS), which in Spark are system properties and so
//     win over the file;
//  3. --conf key=value overrides (Ember's; Spark's daemons have none).
func loadConf(role, propsFile string, overrides []string) (loadedConf, error) {
	return loadConfEnv(role, propsFile, overrides, os.Getenv, os.Executable)
}

func loadConfEnv(role, propsFile string, overrides []string, getenv func(string) string, exe func() (string, error)) (loadedConf, error) {
	conf := sparkconf.New()
	path := propsFile
	if path == "" {
		if dir := confDir(getenv, exe); dir != "" {
			if p := filepath.Join(dir, "spark-defaults.conf"); fileExists(p) {
				path = p
			}
		}
	}
	if path != "" {
		props, err := sparkconf.LoadPropertiesFile(path)
		if err != nil {
			return loadedConf{}, fmt.Errorf("reading %s: %w", path, err)
		}
		for k, v := range props {
			if strings.HasPrefix(k, "spark.") {
				conf.Set(k, v)
			}
		}
	}
	for _, name := range daemonOptsEnv[role] {
		v := getenv(name)
		if v == "" {
			continue
		}
		props, err := sparkconf.SystemProperties(v)
		if err != nil {
			return loadedConf{}, fmt.Errorf("%s: %w", name, err)
		}
		for k, v := range props {
			conf.Set(k, v)
		}
	}
	for _, kv := range overrides {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "spark.") {
			return loadedConf{}, fmt.Errorf("bad --conf %q: want spark.key=value", kv)
		}
		conf.Set(k, v)
	}
	return loadedConf{conf: conf, file: path}, nil
}

// confDir is where spark-defaults.conf is looked for: SPARK_CONF_DIR
// (the sbin scripts set it, to $EMBER_HOME/conf by default), else the conf
// dir of Ember's installation, next to the directory of this binary
// (bin/ember → conf/, as Spark's scripts find their home from their own
// path), else $SPARK_HOME/conf. SPARK_HOME names the Spark distribution
// JVM applications run from, not Ember's home: its conf dir is only the
// last resort, for an ember binary installed on its own (in /usr/local/bin,
// say) serving as that distribution's cluster. It is "" when none exists.
func confDir(getenv func(string) string, exe func() (string, error)) string {
	if d := getenv("SPARK_CONF_DIR"); d != "" {
		return d
	}
	if h := homeFromBinary(exe); h != "" {
		return filepath.Join(h, "conf")
	}
	if h := getenv("SPARK_HOME"); h != "" {
		return filepath.Join(h, "conf")
	}
	return ""
}

// homeFromBinary is the parent of the directory holding this binary (its
// symbolic links resolved) when that parent has a conf directory.
func homeFromBinary(exe func() (string, error)) string {
	p, err := exe()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	home := filepath.Dir(filepath.Dir(p))
	if st, err := os.Stat(filepath.Join(home, "conf")); err == nil && st.IsDir() {
		return home
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
