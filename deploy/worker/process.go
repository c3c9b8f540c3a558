package worker

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// Environment variables the worker sets for its children.
const (
	envAuthSecret = "_SPARK_AUTH_SECRET"
	authSecretKey = "spark.authenticate.secret"
	redactedText  = "*********(redacted)"
	headerRule    = "========================================" // 40 '='
)

// process is one child: in its own process group, its output going
// straight to files (no copying goroutine).
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child is reaped
	exit int           // valid after done
}

// procSpec says what to run.
type procSpec struct {
	argv   []string // argv[0] is the resolved program path
	env    []string
	dir    string
	stdout io.Writer // an *os.File goes to the child as is
	stderr io.Writer
	// closers are closed once the child is reaped and its output copied
	// (rolling log writers).
	closers []io.Closer
}

// outputDrainDelay bounds how long the reaper waits, once the child
// exited, for output still held by what it left behind (a copied pipe).
const outputDrainDelay = 2 * time.Second

// startProcess starts the child and a goroutine (counted on waiters) that
// reaps it.
func startProcess(spec procSpec, waiters *sync.WaitGroup) (*process, error) {
	cmd := &exec.Cmd{Path: spec.argv[0], Args: spec.argv, Env: spec.env, Dir: spec.dir,
		Stdout: spec.stdout, Stderr: spec.stderr, WaitDelay: outputDrainDelay}
	setProcessGroup(cmd)
	closeAll := func() {
		for _, c := range spec.closers {
			_ = c.Close()
		}
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	waiters.Add(1)
	go func() {
		defer waiters.Done()
		_ = cmd.Wait()
		closeAll()
		p.exit = exitStatus(cmd.ProcessState)
		close(p.done)
	}()
	return p, nil
}

// pid returns the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// terminate stops the child (Spark's Utils.terminateProcess): SIGTERM to
// its process group, SIGKILL after grace if it is still there, and a final
// SIGKILL to the group for whatever it left behind. It returns the exit
// status.
func (p *process) terminate(grace time.Duration) int {
	select {
	case <-p.done:
	default:
		_ = softKill(p.cmd.Process)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			_ = hardKill(p.cmd.Process)
			<-p.done
		}
		t.Stop()
	}
	_ = hardKill(p.cmd.Process)
	return p.exit
}

// resolveProgram turns Command.MainClass into a program path: a bare name
// is looked up in PATH, a path is made absolute (the child runs in its own
// directory).
func resolveProgram(name string) (string, error) {
	if name == "" {
		return "", errors.New("the command has no program (mainClass is empty)")
	}
	if !strings.ContainsRune(name, filepath.Separator) && !strings.ContainsRune(name, '/') {
		p, err := exec.LookPath(name)
		if err != nil && !errors.Is(err, exec.ErrDot) {
			return "", err
		}
		name = p
	}
	return filepath.Abs(name)
}

// filterJavaOpts applies subst, then drops -Dspark.authenticate.secret*
// and the RPC SSL passwords (secrets travel in the environment, never on
// a command line).
func filterJavaOpts(opts []string, subst func(string) string) []string {
	out := make([]string, 0, len(opts))
next:
	for _, o := range opts {
		if subst != nil {
			o = subst(o)
		}
		if strings.HasPrefix(o, "-D"+authSecretKey) {
			continue
		}
		for _, k := range rpcSSLPasswordKeys {
			if strings.HasPrefix(o, "-D"+k) {
				continue next
			}
		}
		out = append(out, o)
	}
	return out
}

// commandLineArg is Spark's PATTERN_FOR_COMMAND_LINE_ARG.
var commandLineArg = regexp.MustCompile(`^-D(.+?)=(.+)$`)

// redactArgs hides the values of -Dkey=value arguments whose key or value
// matches spark.redaction.regex (Utils.redactCommandLineArgs).
func redactArgs(re *regexp.Regexp, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if m := commandLineArg.FindStringSubmatch(a); m != nil && re != nil && (re.MatchString(m[1]) || re.MatchString(m[2])) {
			out[i] = "-D" + m[1] + "=" + redactedText
		}
	}
	return out
}

// quoteCommand renders a command as Spark logs it: "a" "b" "c".
func quoteCommand(args []string) string {
	return `"` + strings.Join(args, `" "`) + `"`
}

// commandHeader is the first thing in a child's stderr file.
func commandHeader(title string, re *regexp.Regexp, argv []string) string {
	return fmt.Sprintf("%s: %s\n%s\n\n", title, quoteCommand(redactArgs(re, argv)), headerRule)
}

// commandString renders a Command like Scala's case-class toString, for
// the worker's JSON (secrets redacted).
func commandString(c deploy.Command, re *regexp.Regexp) string {
	list := func(xs []string) string { return "List(" + strings.Join(xs, ", ") + ")" }
	keys := make([]string, 0, len(c.Environment))
	for k := range c.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		v := c.Environment[k]
		if re != nil && (re.MatchString(k) || re.MatchString(v)) {
			v = redactedText
		}
		env = append(env, k+" -> "+v)
	}
	return "Command(" + c.MainClass + "," + list(c.Arguments) + ",Map(" + strings.Join(env, ", ") + ")," +
		list(c.ClassPathEntries) + "," + list(c.LibraryPathEntries) + "," + list(redactArgs(re, c.JavaOpts)) + ")"
}

// openOutput opens a child's stdout or stderr file for appending, first
// truncating it and writing header when header is not empty.
func openOutput(path, header string, truncate bool) (*os.File, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	if header != "" {
		if _, err := f.WriteString(header); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}
