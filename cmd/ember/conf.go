package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-rpc/ember/internal/sparkconf"
)

// confFlags collects repeated --conf key=value flags.
type confFlags []string

func (c *confFlags) String() string     { return strings.Join(*c, ",") }
func (c *confFlags) Set(v string) error { *c = append(*c, v); return nil }

// loadConf reads spark-defaults.conf (the given file, or
// $SPARK_CONF_DIR/spark-defaults.conf, or $SPARK_HOME/conf/...), then
// applies --conf overrides.
func loadConf(propsFile string, overrides []string) (*sparkconf.Conf, error) {
	conf := sparkconf.New()
	path := propsFile
	if path == "" {
		dir := os.Getenv("SPARK_CONF_DIR")
		if dir == "" && os.Getenv("SPARK_HOME") != "" {
			dir = filepath.Join(os.Getenv("SPARK_HOME"), "conf")
		}
		if dir != "" {
			if p := filepath.Join(dir, "spark-defaults.conf"); fileExists(p) {
				path = p
			}
		}
	}
	if path != "" {
		props, err := sparkconf.LoadPropertiesFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		for k, v := range props {
			if strings.HasPrefix(k, "spark.") {
				conf.Set(k, v)
			}
		}
	}
	for _, kv := range overrides {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "spark.") {
			return nil, fmt.Errorf("bad --conf %q: want spark.key=value", kv)
		}
		conf.Set(k, v)
	}
	return conf, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
