package deploy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ember-rpc/ember/rpcenv"
)

// Bounds on what a deploy message may carry. A message outside them is
// refused at the daemon's entry point (Validate) before any field reaches
// the master's or worker's state: a peer cannot register a worker with a
// million cores or a 32 MiB host name, nor make one scheduling pass cost
// more than the cluster's size.
const (
	// MaxCores bounds a worker's, executor's or driver's cores.
	MaxCores = 1 << 16
	// MaxMemoryMB bounds memory in MB (1 PiB).
	MaxMemoryMB = 1 << 30
	// MaxHostLen bounds a host name (DNS's limit).
	MaxHostLen = 255
	// MaxNameLen bounds names, ids and users.
	MaxNameLen = 1 << 10
	// MaxURLLen bounds URLs (web UI addresses, jar URLs, master URLs).
	MaxURLLen = 4 << 10
	// MaxTextLen bounds free text: failure messages, exceptions.
	MaxTextLen = 64 << 10
	// MaxCommandBytes bounds a Command: main class, arguments, environment
	// entries, class and library paths and Java options together, each
	// entry counting one byte more than its length.
	MaxCommandBytes = 64 << 10
	// MaxEntries bounds the entries of a list in a message (executors and
	// drivers in a worker's report, executor ids to kill).
	MaxEntries = 1 << 16
	// MaxResources bounds custom resource names per message, and
	// MaxResourceAddresses the addresses of one resource.
	MaxResources         = 64
	MaxResourceAddresses = 1 << 10
	// MaxExecutorTarget bounds RequestExecutors' total and an app's
	// initial executor limit (Spark's Int; scheduling cost does not depend
	// on it).
	MaxExecutorTarget = 1<<31 - 1
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("deploy: invalid message")

// ValidationError names the message and field a bound refused.
type ValidationError struct {
	Message string // the message type, e.g. "RegisterWorker"
	Field   string // e.g. "cores"
	Reason  string
}

func (e *ValidationError) Error() string {
	return "deploy: invalid " + e.Message + ": " + e.Field + " " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validator is a message that checks its own fields.
type Validator interface{ Validate() error }

// Validate checks msg if it is a Validator; other values pass.
func Validate(msg any) error {
	if v, ok := msg.(Validator); ok {
		return v.Validate()
	}
	return nil
}

// checker collects the first failure of a message's checks.
type checker struct {
	msg string
	err error
}

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = &ValidationError{Message: c.msg, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
}

func (c *checker) intRange(field string, v, lo, hi int) {
	if v < lo || v > hi {
		c.fail(field, "%d out of range [%d, %d]", v, lo, hi)
	}
}

// text checks a string's length and that it holds no NUL (which no file
// name, argument or log line may carry).
func (c *checker) text(field, s string, maxLen int, required bool) {
	switch {
	case required && s == "":
		c.fail(field, "is empty")
	case len(s) > maxLen:
		c.fail(field, "is %d bytes long, over %d", len(s), maxLen)
	case strings.IndexByte(s, 0) >= 0:
		c.fail(field, "contains NUL")
	}
}

// id checks a name or id: 1..MaxNameLen bytes, valid UTF-8, no control
// characters.
func (c *checker) id(field, s string) {
	c.text(field, s, MaxNameLen, true)
	if c.err == nil && !printable(s) {
		c.fail(field, "%q has control characters or invalid UTF-8", clip(s))
	}
}

// host checks a host name or IP literal.
func (c *checker) host(field, s string, required bool) {
	if s == "" && !required {
		return
	}
	c.text(field, s, MaxHostLen, true)
	if c.err == nil && (!printable(s) || strings.ContainsAny(s, " /\\@?#")) {
		c.fail(field, "%q is not a host name", clip(s))
	}
}

func (c *checker) address(field string, a rpcenv.Address) {
	if a.IsZero() {
		return
	}
	c.host(field+".host", a.Host, true)
	c.intRange(field+".port", a.Port, 0, 65535)
}

func (c *checker) optText(field string, s *string, maxLen int) {
	if s != nil {
		c.text(field, *s, maxLen, false)
	}
}

func (c *checker) resources(field string, res map[string]ResourceInformation) {
	if len(res) > MaxResources {
		c.fail(field, "has %d entries, over %d", len(res), MaxResources)
		return
	}
	for name, r := range res {
		c.id(field+" name", name)
		if len(r.Addresses) > MaxResourceAddresses {
			c.fail(field+"["+clip(name)+"]", "has %d addresses, over %d", len(r.Addresses), MaxResourceAddresses)
		}
		for _, a := range r.Addresses {
			c.id(field+"["+clip(name)+"] address", a)
		}
	}
}

func (c *checker) command(field string, cmd Command) {
	total := 0
	add := func(what, s string) {
		total += len(s) + 1
		if strings.IndexByte(s, 0) >= 0 {
			c.fail(field+"."+what, "contains NUL")
		}
	}
	add("mainClass", cmd.MainClass)
	for _, s := range cmd.Arguments {
		add("arguments", s)
	}
	for k, v := range cmd.Environment {
		if k == "" || strings.ContainsAny(k, "=") {
			c.fail(field+".environment", "has an invalid variable name %q", clip(k))
		}
		add("environment", k)
		add("environment", v)
	}
	for _, s := range cmd.ClassPathEntries {
		add("classPathEntries", s)
	}
	for _, s := range cmd.LibraryPathEntries {
		add("libraryPathEntries", s)
	}
	for _, s := range cmd.JavaOpts {
		add("javaOpts", s)
	}
	if total > MaxCommandBytes {
		c.fail(field, "is %d bytes, over %d", total, MaxCommandBytes)
	}
}

func (c *checker) appDesc(field string, d ApplicationDescription) {
	c.text(field+".name", d.Name, MaxNameLen, false)
	if d.MaxCores != nil {
		c.intRange(field+".maxCores", *d.MaxCores, 0, 1<<31-1) // Some(0) is accepted by Spark: the app waits
	}
	c.command(field+".command", d.Command)
	c.text(field+".appUiUrl", d.AppUIURL, MaxURLLen, false)
	// 0 means the default (1024 MB).
	c.intRange(field+".memoryPerExecutorMB", d.MemoryPerExecutorMB, 0, MaxMemoryMB)
	if d.CoresPerExecutor != nil {
		c.intRange(field+".coresPerExecutor", *d.CoresPerExecutor, 1, MaxCores)
	}
	if d.InitialExecutorLimit != nil {
		c.intRange(field+".initialExecutorLimit", *d.InitialExecutorLimit, 0, MaxExecutorTarget)
	}
	c.text(field+".user", d.User, MaxNameLen, false)
}

func (c *checker) driverDesc(field string, d DriverDescription) {
	c.text(field+".jarUrl", d.JarURL, MaxURLLen, false)
	c.intRange(field+".mem", d.MemoryMB, 1, MaxMemoryMB)
	c.intRange(field+".cores", d.Cores, 1, MaxCores)
	c.command(field+".command", d.Command)
}

func (c *checker) executorDescs(field string, execs []ExecutorDescription) {
	if len(execs) > MaxEntries {
		c.fail(field, "has %d entries, over %d", len(execs), MaxEntries)
		return
	}
	for _, e := range execs {
		c.id(field+".appId", e.AppID)
		c.intRange(field+".execId", e.ExecID, 0, 1<<31-1)
		c.intRange(field+".rpId", e.RPID, 0, 1<<31-1)
		c.intRange(field+".cores", e.Cores, 0, MaxCores)
		c.intRange(field+".memoryMb", e.MemoryMB, 0, MaxMemoryMB)
		c.executorState(field+".state", e.State)
		if c.err != nil {
			return
		}
	}
}

func (c *checker) ids(field string, ids []string) {
	if len(ids) > MaxEntries {
		c.fail(field, "has %d entries, over %d", len(ids), MaxEntries)
		return
	}
	for _, id := range ids {
		c.id(field, id)
		if c.err != nil {
			return
		}
	}
}

func (c *checker) executorState(field string, s ExecutorState) {
	switch s {
	case ExecutorLaunching, ExecutorRunning, ExecutorKilled, ExecutorFailed, ExecutorLost, ExecutorExited, ExecutorDecommissioned:
	default:
		c.fail(field, "%q is not an executor state", clip(string(s)))
	}
}

func (c *checker) driverState(field string, s DriverState) {
	switch s {
	case DriverSubmitted, DriverRunning, DriverFinished, DriverRelaunching, DriverUnknown, DriverKilled, DriverFailed, DriverError:
	default:
		c.fail(field, "%q is not a driver state", clip(string(s)))
	}
}

func (c *checker) ref(field string, r *rpcenv.Ref) {
	if r == nil {
		return
	}
	a := r.Address()
	c.text(field+".name", a.Name, MaxNameLen, true)
	c.address(field, a.Addr)
}

// printable reports valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ---- per message ----

// Validate checks a worker's registration.
func (m RegisterWorker) Validate() error {
	c := checker{msg: "RegisterWorker"}
	c.id("id", m.ID)
	c.host("host", m.Host, true)
	c.intRange("port", m.Port, 1, 65535)
	c.ref("worker", m.Worker)
	c.intRange("cores", m.Cores, 1, MaxCores)
	c.intRange("memory", m.MemoryMB, 1, MaxMemoryMB)
	c.text("workerWebUiUrl", m.WorkerWebUIURL, MaxURLLen, false)
	c.address("masterAddress", m.MasterAddress)
	c.resources("resources", m.Resources)
	return c.err
}

// Validate checks a registration's acceptance.
func (m RegisteredWorker) Validate() error {
	c := checker{msg: "RegisteredWorker"}
	c.ref("master", m.Master)
	c.text("masterWebUiUrl", m.MasterWebUIURL, MaxURLLen, false)
	c.address("masterAddress", m.MasterAddress)
	return c.err
}

// Validate checks a registration's refusal.
func (m RegisterWorkerFailed) Validate() error {
	c := checker{msg: "RegisterWorkerFailed"}
	c.text("message", m.Message, MaxTextLen, false)
	return c.err
}

// Validate checks a heartbeat.
func (m Heartbeat) Validate() error {
	c := checker{msg: "Heartbeat"}
	c.id("workerId", m.WorkerID)
	c.ref("worker", m.Worker)
	return c.err
}

// Validate checks a reconnect request.
func (m ReconnectWorker) Validate() error {
	c := checker{msg: "ReconnectWorker"}
	c.text("masterUrl", m.MasterURL, MaxURLLen, false)
	return c.err
}

// Validate checks a worker's report after registering.
func (m WorkerLatestState) Validate() error {
	c := checker{msg: "WorkerLatestState"}
	c.id("id", m.ID)
	c.executorDescs("executors", m.Executors)
	c.ids("driverIds", m.DriverIDs)
	return c.err
}

// Validate checks a leader change.
func (m MasterChanged) Validate() error {
	c := checker{msg: "MasterChanged"}
	c.ref("master", m.Master)
	c.text("masterWebUiUrl", m.MasterWebUIURL, MaxURLLen, false)
	return c.err
}

// Validate checks a worker's answer to MasterChanged.
func (m WorkerSchedulerStateResponse) Validate() error {
	c := checker{msg: "WorkerSchedulerStateResponse"}
	c.id("id", m.ID)
	c.executorDescs("executors", m.Executors)
	c.ids("driverIds", m.DriverIDs)
	return c.err
}

// Validate checks an executor launch.
func (m LaunchExecutor) Validate() error {
	c := checker{msg: "LaunchExecutor"}
	c.text("masterUrl", m.MasterURL, MaxURLLen, false)
	c.id("appId", m.AppID)
	c.intRange("execId", m.ExecID, 0, 1<<31-1)
	c.intRange("rpId", m.RPID, 0, 1<<31-1)
	c.appDesc("appDesc", m.AppDesc)
	c.intRange("cores", m.Cores, 1, MaxCores)
	c.intRange("memory", m.MemoryMB, 1, MaxMemoryMB)
	c.resources("resources", m.Resources)
	return c.err
}

// Validate checks an executor kill.
func (m KillExecutor) Validate() error {
	c := checker{msg: "KillExecutor"}
	c.text("masterUrl", m.MasterURL, MaxURLLen, false)
	c.id("appId", m.AppID)
	c.intRange("execId", m.ExecID, 0, 1<<31-1)
	return c.err
}

// Validate checks an executor state report.
func (m ExecutorStateChanged) Validate() error {
	c := checker{msg: "ExecutorStateChanged"}
	c.id("appId", m.AppID)
	c.intRange("execId", m.ExecID, 0, 1<<31-1)
	c.executorState("state", m.State)
	c.optText("message", m.Message, MaxTextLen)
	return c.err
}

// Validate checks a driver launch.
func (m LaunchDriver) Validate() error {
	c := checker{msg: "LaunchDriver"}
	c.id("driverId", m.DriverID)
	c.driverDesc("driverDesc", m.Desc)
	c.resources("resources", m.Resources)
	return c.err
}

// Validate checks a driver kill.
func (m KillDriver) Validate() error {
	c := checker{msg: "KillDriver"}
	c.id("driverId", m.DriverID)
	return c.err
}

// Validate checks a driver state report.
func (m DriverStateChanged) Validate() error {
	c := checker{msg: "DriverStateChanged"}
	c.id("driverId", m.DriverID)
	c.driverState("state", m.State)
	c.optText("exception", m.Exception, MaxTextLen)
	return c.err
}

// Validate checks an app's end notice.
func (m ApplicationFinished) Validate() error {
	c := checker{msg: "ApplicationFinished"}
	c.id("id", m.ID)
	return c.err
}

// Validate checks an application's registration.
func (m RegisterApplication) Validate() error {
	c := checker{msg: "RegisterApplication"}
	c.appDesc("appDescription", m.AppDescription)
	c.ref("driver", m.Driver)
	return c.err
}

// Validate checks an app's acknowledgement of a new leader.
func (m MasterChangeAcknowledged) Validate() error {
	c := checker{msg: "MasterChangeAcknowledged"}
	c.id("appId", m.AppID)
	return c.err
}

// Validate checks an app's end request.
func (m UnregisterApplication) Validate() error {
	c := checker{msg: "UnregisterApplication"}
	c.id("appId", m.AppID)
	return c.err
}

// Validate checks an executor target.
func (m RequestExecutors) Validate() error {
	c := checker{msg: "RequestExecutors"}
	c.id("appId", m.AppID)
	c.intRange("requestedTotal", m.RequestedTotal, 0, MaxExecutorTarget)
	return c.err
}

// Validate checks an executor kill request.
func (m KillExecutors) Validate() error {
	c := checker{msg: "KillExecutors"}
	c.id("appId", m.AppID)
	c.ids("executorIds", m.ExecutorIDs)
	return c.err
}

// Validate checks a driver submission.
func (m RequestSubmitDriver) Validate() error {
	c := checker{msg: "RequestSubmitDriver"}
	c.driverDesc("driverDescription", m.Desc)
	return c.err
}

// Validate checks a driver kill request.
func (m RequestKillDriver) Validate() error {
	c := checker{msg: "RequestKillDriver"}
	c.id("driverId", m.DriverID)
	return c.err
}

// Validate checks a driver status request.
func (m RequestDriverStatus) Validate() error {
	c := checker{msg: "RequestDriverStatus"}
	c.id("driverId", m.DriverID)
	return c.err
}
