package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// A Command is launched one of two ways. When its MainClass is a Java
// class name (org.apache.spark.executor.CoarseGrainedExecutorBackend,
// org.apache.spark.deploy.worker.DriverWrapper, ...), the worker starts a
// JVM exactly as Spark 4.1's CommandUtils.buildProcessBuilder and
// WorkerCommandBuilder do:
//
//	<java> [lines of <confDir>/java-opts] -cp <classpath> -Xmx<memory>M <javaOpts> <mainClass> <arguments>
//
// where <java> is $JAVA_HOME/bin/java (JAVA_HOME from the Command's
// environment, else the worker's; else java from PATH, since the worker is
// no JVM with a java.home of its own), <confDir> is SPARK_CONF_DIR or
// $SPARK_HOME/conf, and <classpath> is, without duplicates and with a '/'
// added to directories: the Command's classPathEntries, the conf dir, the
// slf4j-api jars of $SPARK_HOME/jars, $SPARK_HOME/jars/*, HADOOP_CONF_DIR,
// YARN_CONF_DIR and SPARK_DIST_CLASSPATH (AbstractCommandBuilder). Every
// variable is looked up in the Command's environment first, then in the
// worker's. Otherwise MainClass is a program path (Ember's Go executors),
// run with the javaOpts and arguments alone.

// javaClassName matches a dotted Java class name whose last part starts
// with an upper-case letter (package.Class, package.Outer$Inner).
var javaClassName = regexp.MustCompile(`^(?:[a-z_][A-Za-z0-9_]*\.)+[A-Z][A-Za-z0-9_$]*$`)

// isJavaMain reports whether a Command's MainClass names a Java class (a
// JVM launch) rather than a program.
func isJavaMain(mainClass string) bool {
	return !strings.ContainsAny(mainClass, `/\`) && javaClassName.MatchString(mainClass)
}

// rpcSSLPasswordKeys are SSLOptions.SPARK_RPC_SSL_PASSWORD_FIELDS: like the
// auth secret, they never go on a child's command line.
var rpcSSLPasswordKeys = []string{"spark.ssl.rpc.keyPassword", "spark.ssl.rpc.privateKeyPassword",
	"spark.ssl.rpc.keyStorePassword", "spark.ssl.rpc.trustStorePassword"}

// hostEnv is what command building reads of the worker's machine. The
// zero value is not usable: osHostEnv is the real one, tests build fakes.
type hostEnv struct {
	environ  []string               // the worker's environment
	isDir    func(path string) bool // a directory exists
	readFile func(path string) ([]byte, error)
	listDir  func(path string) ([]string, error) // names in a directory
	lookPath func(name string) (string, error)
}

// osHostEnv is the worker's real environment and file system.
func osHostEnv() hostEnv {
	return hostEnv{
		environ: os.Environ(),
		isDir: func(p string) bool {
			fi, err := os.Stat(p)
			return err == nil && fi.IsDir()
		},
		readFile: os.ReadFile,
		listDir: func(p string) ([]string, error) {
			es, err := os.ReadDir(p)
			names := make([]string, 0, len(es))
			for _, e := range es {
				names = append(names, e.Name())
			}
			return names, err
		},
		lookPath: func(name string) (string, error) {
			p, err := exec.LookPath(name)
			if errors.Is(err, exec.ErrDot) {
				err = nil
			}
			return p, err
		},
	}
}

// workerGetenv is the worker's own value of key.
func (h hostEnv) workerGetenv(key string) string {
	for i := len(h.environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(h.environ[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// launchSpec is one child to build a command for.
type launchSpec struct {
	cmd      deploy.Command
	memoryMB int
	// sparkHome is the worker's Spark home (JVM launches).
	sparkHome string
	// sparkHomeFrom says where sparkHome came from (for the error when
	// it holds no Spark).
	sparkHomeFrom string
	// argSubst replaces an argument that is exactly a placeholder.
	argSubst func(string) string
	// optSubst rewrites each javaOpt (nil: none).
	optSubst func(string) string
	// extraArgs go after the arguments (--resourcesFile <f>).
	extraArgs []string
	// extraJavaOpts go after the javaOpts (-Dspark.driver.resourcesFile=).
	extraJavaOpts []string
	// authSecret goes to _SPARK_AUTH_SECRET when not empty.
	authSecret string
	// extraEnv are set last (KEY=value), JVM or not.
	extraEnv []string
	// programEnv are set last for a program launch only (Ember's
	// SPARK_EXECUTOR_MEMORY and SPARK_EXECUTOR_CORES).
	programEnv []string
}

// buildLaunch returns the child's argv (argv[0] resolved) and environment.
func buildLaunch(s launchSpec, h hostEnv) (argv, env []string, err error) {
	jvm := isJavaMain(s.cmd.MainClass)
	opts := filterJavaOpts(s.cmd.JavaOpts, s.optSubst)
	opts = append(opts, s.extraJavaOpts...)
	args := make([]string, 0, len(s.cmd.Arguments)+len(s.extraArgs))
	for _, a := range s.cmd.Arguments {
		if s.argSubst != nil {
			a = s.argSubst(a)
		}
		args = append(args, a)
	}
	args = append(args, s.extraArgs...)

	// The environment: the worker's (without an inherited secret), the
	// Command's, the library path, the secret, then ours.
	cmdEnv := make(map[string]string, len(s.cmd.Environment)+1)
	for k, v := range s.cmd.Environment {
		cmdEnv[k] = v
	}
	if len(s.cmd.LibraryPathEntries) > 0 {
		// CommandUtils.buildLocalCommand: the entries, then the Command's
		// own value, then the worker's.
		parts := append([]string(nil), s.cmd.LibraryPathEntries...)
		if v, ok := s.cmd.Environment[libraryPathEnv]; ok {
			parts = append(parts, v)
		}
		if v := h.workerGetenv(libraryPathEnv); v != "" {
			parts = append(parts, v)
		}
		cmdEnv[libraryPathEnv] = strings.Join(parts, string(filepath.ListSeparator))
	}
	var set []string
	for _, k := range sortedKeys(cmdEnv) {
		set = append(set, k+"="+cmdEnv[k])
	}
	if s.authSecret != "" {
		set = append(set, envAuthSecret+"="+s.authSecret)
	}
	if jvm {
		set = append(set, "SPARK_HOME="+s.sparkHome)
	} else {
		set = append(set, s.programEnv...)
	}
	set = append(set, s.extraEnv...)
	var base []string
	for _, kv := range h.environ {
		if !strings.HasPrefix(kv, envAuthSecret+"=") {
			base = append(base, kv)
		}
	}
	env = mergeEnv(base, set)

	if !jvm {
		prog, err := resolveProgram(s.cmd.MainClass)
		if err != nil {
			return nil, nil, err
		}
		argv = append(append([]string{prog}, opts...), args...)
		return argv, env, nil
	}
	java, err := h.javaCommand(s.cmd.Environment)
	if err != nil {
		return nil, nil, err
	}
	getenv := func(k string) string {
		if k == "SPARK_HOME" {
			return s.sparkHome // WorkerCommandBuilder puts it in its childEnv
		}
		if v := s.cmd.Environment[k]; v != "" {
			return v
		}
		return h.workerGetenv(k)
	}
	confDir := getenv("SPARK_CONF_DIR")
	if confDir == "" {
		confDir = filepath.Join(s.sparkHome, "conf")
	}
	argv = []string{java}
	if b, err := h.readFile(filepath.Join(confDir, "java-opts")); err == nil {
		for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			line = strings.TrimSuffix(line, "\r")
			o, err := parseOptionString(line)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", filepath.Join(confDir, "java-opts"), err)
			}
			argv = append(argv, o...)
		}
	}
	cp, err := h.classPath(s, getenv, confDir)
	if err != nil {
		return nil, nil, err
	}
	argv = append(argv, "-cp", strings.Join(cp, string(filepath.ListSeparator)), "-Xmx"+strconv.Itoa(s.memoryMB)+"M")
	argv = append(argv, opts...)
	argv = append(argv, s.cmd.MainClass)
	argv = append(argv, args...)
	return argv, env, nil
}

// libraryPathEnv is Utils.libraryPathEnvName on Linux.
const libraryPathEnv = "LD_LIBRARY_PATH"

// javaCommand is $JAVA_HOME/bin/java (the Command's JAVA_HOME first), else
// java from PATH.
func (h hostEnv) javaCommand(cmdEnv map[string]string) (string, error) {
	home := cmdEnv["JAVA_HOME"]
	if home == "" {
		home = h.workerGetenv("JAVA_HOME")
	}
	if home != "" {
		return filepath.Join(home, "bin", "java"), nil
	}
	p, err := h.lookPath("java")
	if err != nil {
		return "", fmt.Errorf("no java: JAVA_HOME is not set and java is not in PATH: %w", err)
	}
	return p, nil
}

// classPath is AbstractCommandBuilder.buildClassPath for a worker's child.
func (h hostEnv) classPath(s launchSpec, getenv func(string) string, confDir string) ([]string, error) {
	var cp []string
	seen := map[string]bool{}
	add := func(entries string) {
		for _, e := range strings.Split(entries, string(filepath.ListSeparator)) {
			if e == "" {
				continue
			}
			if h.isDir(e) && !strings.HasSuffix(e, string(filepath.Separator)) {
				e += string(filepath.Separator)
			}
			if !seen[e] {
				seen[e] = true
				cp = append(cp, e)
			}
		}
	}
	add(strings.Join(s.cmd.ClassPathEntries, string(filepath.ListSeparator)))
	add(confDir)
	testing := getenv("SPARK_TESTING") == "1" || getenv("SPARK_SQL_TESTING") == "1"
	jars := filepath.Join(s.sparkHome, "jars")
	if !h.isDir(jars) {
		scala := getenv("SPARK_SCALA_VERSION")
		if scala == "" {
			scala = "2.13"
		}
		jars = filepath.Join(s.sparkHome, "assembly", "target", "scala-"+scala, "jars")
		if !h.isDir(jars) {
			if !testing {
				return nil, noSparkError(s.sparkHome, s.sparkHomeFrom)
			}
			jars = ""
		}
	}
	if jars != "" {
		// slf4j-api first (SPARK-45755), then everything.
		names, _ := h.listDir(jars)
		sort.Strings(names)
		for _, n := range names {
			if strings.HasPrefix(n, "slf4j-api-") {
				add(filepath.Join(jars, n))
			}
		}
		add(filepath.Join(jars, "*"))
	}
	add(getenv("HADOOP_CONF_DIR"))
	add(getenv("YARN_CONF_DIR"))
	add(getenv("SPARK_DIST_CLASSPATH"))
	return cp, nil
}

// noSparkError is the launch error of a JVM child when the worker's Spark
// home holds no Spark: it names the directory, where it came from and the
// two ways to name a Spark distribution.
func noSparkError(home, from string) error {
	if from == "" {
		from = "the worker's Spark home"
	}
	return fmt.Errorf("no Spark distribution for a JVM executor or driver: %s (from %s) has no jars/ directory "+
		"(nor assembly/target/scala-*/jars); set SPARK_HOME in the worker's environment (conf/ember-env.sh) "+
		"or %s to a Spark 4.1 distribution and restart the worker", home, from, KeySparkHome)
}

// hasSparkJars reports whether home holds Spark's jars, where the
// classpath of a JVM child looks for them: home/jars, else the build's
// home/assembly/target/scala-<SPARK_SCALA_VERSION or 2.13>/jars.
func (h hostEnv) hasSparkJars(home string) bool {
	if h.isDir(filepath.Join(home, "jars")) {
		return true
	}
	scala := h.workerGetenv("SPARK_SCALA_VERSION")
	if scala == "" {
		scala = "2.13"
	}
	return h.isDir(filepath.Join(home, "assembly", "target", "scala-"+scala, "jars"))
}

// mergeEnv applies KEY=value settings over base: a key already in base is
// replaced in place, a new key is appended; later settings win.
func mergeEnv(base, set []string) []string {
	out := append([]string(nil), base...)
	idx := make(map[string]int, len(out))
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// parseOptionString splits a line of options as Spark's
// CommandBuilderUtils.parseOptionString does (sparkconf.SplitOptionString:
// whitespace, single quotes literal, double quotes and backslash escapes).
func parseOptionString(s string) ([]string, error) {
	return sparkconf.SplitOptionString(s)
}

// resourceAllocation is Spark's ResourceAllocation as its resources file
// holds it (ResourceUtils / json4s field names).
type resourceAllocation struct {
	ID struct {
		ComponentName string `json:"componentName"`
		ResourceName  string `json:"resourceName"`
	} `json:"id"`
	Addresses []string `json:"addresses"`
}

// writeResourcesFile writes the resources assigned to a child, as Spark's
// prepareResourcesFile, into dir: resource-<component>-<random>.json.
// Nothing is written for no resources ("" is returned).
func writeResourcesFile(component string, res map[string]deploy.ResourceInformation, dir string) (string, error) {
	if len(res) == 0 {
		return "", nil
	}
	allocs := make([]resourceAllocation, 0, len(res))
	for _, name := range sortedKeys(res) {
		var a resourceAllocation
		a.ID.ComponentName, a.ID.ResourceName = component, name
		a.Addresses = append([]string{}, res[name].Addresses...)
		allocs = append(allocs, a)
	}
	b, err := json.Marshal(allocs)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "resource-"+component+"-*.json")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return filepath.Abs(f.Name())
}
