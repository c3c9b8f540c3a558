package master

// The REST submission server (Spark's StandaloneRestServer): the gateway
// `spark-submit --deploy-mode cluster` uses when the client sets
// spark.master.rest.enabled=true, and the only one `spark-submit --status`
// and `--kill` use in Spark 4. It speaks protocol v1 as Spark 4.1.4 does:
//
//	POST /v1/submissions/create       CreateSubmissionRequest → CreateSubmissionResponse
//	POST /v1/submissions/kill/<id>    → KillSubmissionResponse
//	POST /v1/submissions/killall      → KillAllSubmissionResponse
//	GET  /v1/submissions/status/<id>  → SubmissionStatusResponse
//	POST /v1/submissions/clear        → ClearResponse
//	GET  /v1/submissions/readyz       → ReadyzResponse (503 + ErrorResponse when not ready)
//
// Every answer is one JSON object whose "action" names its type, written
// as Spark's Jackson mapper writes it (fields in alphabetical order, nulls
// left out, indented). Codes: 200, 400 for a malformed request, 468 for an
// unknown protocol version (with highestProtocolVersion "v1"), 500 when
// the master cannot answer; an ErrorResponse carries the reason. Ember
// adds bounds Spark's Jetty server does not have: a request body over
// restMaxBody is 413, a method the path does not serve is 405, an action
// Spark would fail on with a bare 500 (an unknown class name) is a 400.
//
// The server only translates: a submission is the RequestSubmitDriver ask
// the RPC gateway sends (validated and admitted by the same State), with
// the DriverDescription Spark's StandaloneSubmitRequestServlet builds:
// DriverWrapper with {{WORKER_URL}} {{USER_JAR}} <mainClass> [<-c
// spark.app.name=...> for SparkSubmit] <appArgs>, Java options = the JVM
// module options, -Dkey=value for every Spark property (spark.master
// pointed at the RPC port), spark.driver.defaultJavaOptions and
// spark.driver.extraJavaOptions; memory, cores and supervise from
// spark.driver.memory / cores / supervise (1024 MB, 1, false).
//
// Spark 4.1.4 starts the server by default (spark.master.rest.enabled
// true, port 6066, on spark.master.rest.host or the master's host) and
// does not refuse it under spark.authenticate: its only access control is
// spark.master.rest.filters, Java servlet filters. Ember runs Spark's own
// org.apache.spark.ui.JWSFilter natively (rest_jws.go); a master given
// any other filter refuses to start (better than serving without the
// protection asked for); one with spark.authenticate and no filter logs a
// warning, since anyone who reaches the port can run a driver.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/deploy/sparkmsg/suid"
	"github.com/ember-rpc/ember/deploy/webui"
	"github.com/ember-rpc/ember/internal/sparkjvm"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

const (
	// restProtocolVersion is the only protocol version the server speaks.
	restProtocolVersion = "v1"
	// restUnknownProtocolVersion is Spark's status for another version.
	restUnknownProtocolVersion = 468
	// restMaxBody bounds a request body (Spark's Jetty has no bound).
	restMaxBody = 1 << 20
	// restServerVersion is what serverSparkVersion reports.
	restServerVersion = suid.DefaultVersion
	// driverWrapperClass runs a cluster-mode driver's main class.
	driverWrapperClass = "org.apache.spark.deploy.worker.DriverWrapper"
	// sparkSubmitClass is a driver main class that gets the app name as -c.
	sparkSubmitClass = "org.apache.spark.deploy.SparkSubmit"
	// Spark's ClientArguments defaults for a cluster-mode driver.
	defaultDriverMemoryMB = 1024
	defaultDriverCores    = 1
)

// jvmModuleOptions are the first Java options of a REST-submitted
// driver, as Spark's REST server puts them (sparkjvm.ModuleOptions).
var jvmModuleOptions = sparkjvm.ModuleOptions

// restConfig is the REST server's part of the master's configuration.
type restConfig struct {
	Enabled    bool       // spark.master.rest.enabled (true)
	Host       string     // spark.master.rest.host ("" : the master's host)
	Port       int        // spark.master.rest.port (6066; 0 picks one)
	MaxThreads int        // spark.master.rest.maxThreads (200): requests served at once
	Filters    []string   // spark.master.rest.filters
	JWS        *jwsFilter // org.apache.spark.ui.JWSFilter among Filters
	Retries    int        // spark.port.maxRetries (16; 100 under spark.testing)
	Auth       bool       // spark.authenticate
	// Protected is protected mode (spark.ember.protectedMode, true): with
	// no JWS filter, only clients on the master's host are served.
	Protected bool
}

// restConfigFromSpark reads and checks the REST keys.
func restConfigFromSpark(conf *sparkconf.Conf) (restConfig, error) {
	var c restConfig
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	c.Enabled, err = conf.GetBool("spark.master.rest.enabled", true)
	keep(err)
	c.Host = strings.TrimSpace(conf.GetString("spark.master.rest.host", ""))
	c.Port, err = conf.GetInt("spark.master.rest.port", 6066)
	keep(err)
	if c.Port != 0 && (c.Port < 1024 || c.Port > 65535) {
		errs = append(errs, fmt.Errorf("spark.master.rest.port: %d must be 0 or between 1024 and 65535", c.Port))
	}
	c.MaxThreads, err = conf.GetInt("spark.master.rest.maxThreads", 200)
	keep(err)
	if c.MaxThreads < 1 {
		errs = append(errs, fmt.Errorf("spark.master.rest.maxThreads must be positive, got %d", c.MaxThreads))
	}
	for _, f := range strings.Split(conf.GetString("spark.master.rest.filters", ""), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.Filters = append(c.Filters, f)
		}
	}
	def := 16
	if conf.Contains("spark.testing") {
		def = 100
	}
	c.Retries, err = conf.GetInt("spark.port.maxRetries", def)
	keep(err)
	sec, err := deploy.SecurityFromConf(conf)
	keep(err)
	c.Auth, c.Protected = sec.Authenticate, sec.Protected
	for _, f := range c.Filters {
		if !c.Enabled {
			break
		}
		if f != jwsFilterClass {
			errs = append(errs, fmt.Errorf("spark.master.rest.filters: Ember cannot run the Java servlet filter %s on its REST server (only %s); "+
				"remove it, or turn the server off with spark.master.rest.enabled=false", f, jwsFilterClass))
			continue
		}
		c.JWS, err = newJWSFilter(conf)
		keep(err)
	}
	return c, errors.Join(errs...)
}

// restServer is a running REST server.
type restServer struct {
	srv  *webui.Server
	port int
}

// startREST binds the REST server with Spark's port retry rule and serves
// h until close.
func startREST(cfg restConfig, host string, h *restHandler, log *slog.Logger) (*restServer, error) {
	var last error
	for k := 0; k <= cfg.Retries; k++ {
		try := cfg.Port
		if cfg.Port != 0 && k > 0 {
			try = ((cfg.Port + k - 1024) % (65536 - 1024)) + 1024
		}
		// Bound without a handler (503 until set), so that the handler
		// knows its port before it serves.
		srv, err := webui.ListenConfig(host, try, nil, webui.ServerConfig{ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute})
		if err == nil {
			s := &restServer{srv: srv, port: srv.Port()}
			h.restPort = s.port
			srv.SetHandler(h)
			log.Info("Started REST server for submitting applications", "host", host, "port", s.port)
			return s, nil
		}
		last = err
		if !errors.Is(err, syscall.EADDRINUSE) || cfg.Port == 0 {
			break
		}
	}
	return nil, fmt.Errorf("master: REST server on %s port %d (spark.master.rest.port; spark.master.rest.enabled=false turns it off): %w",
		host, cfg.Port, last)
}

func (s *restServer) close() {
	if s != nil {
		_ = s.srv.Close()
	}
}

// stateCall runs fn on the master's endpoint loop: the REST asks that
// have no deploy message of their own (kill all drivers, clear).
type stateCall struct{ fn func(*State) any }

// killAllResult answers a kill-all stateCall.
type killAllResult struct {
	Success bool
	Message string
}

// KillAllDrivers kills every waiting and running driver (Spark's
// RequestKillAllDrivers): waiting ones become KILLED at once, running
// ones are killed through their worker, which reports KILLED.
func (s *State) KillAllDrivers() killAllResult {
	if s.Status != deploy.StateAlive {
		return killAllResult{Message: fmt.Sprintf("Current state is not alive: %s. Can only kill drivers in ALIVE state.", s.Status)}
	}
	ids := make([]string, 0, len(s.drivers))
	for id := range s.drivers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d := s.drivers[id]
		if d == nil {
			continue
		}
		if containsDriver(s.waitingDrivers, d) {
			s.waitingDrivers = removeDriverFrom(s.waitingDrivers, d)
			s.DriverStateChanged(deploy.DriverStateChanged{DriverID: id, State: deploy.DriverKilled})
		} else if d.Worker != nil {
			s.fx.Send(d.Worker.Endpoint, deploy.KillDriver{DriverID: id})
		}
	}
	return killAllResult{Success: true, Message: "Kill request for all drivers submitted"}
}

// ClearCompleted forgets the completed drivers and applications (Spark's
// RequestClearCompletedDriversAndApps).
func (s *State) ClearCompleted() bool {
	s.completedDrivers = nil
	s.completedApps = nil
	return true
}

// ---- the protocol ----

// restMessage is one protocol message as Spark's Jackson mapper writes
// it: every set field, in alphabetical order.
type restMessage struct {
	Action                 string
	DriverState            *string
	HighestProtocolVersion *string
	Message                *string
	ServerSparkVersion     *string
	SubmissionID           *string
	Success                *bool
	UnknownFields          []string
	WorkerHostPort         *string
	WorkerID               *string
}

func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }

// newResponse starts a response of the given action.
func newResponse(action string) restMessage {
	return restMessage{Action: action, ServerSparkVersion: strp(restServerVersion)}
}

// errorResponse is an ErrorResponse with a message.
func errorResponse(msg string) restMessage {
	r := newResponse("ErrorResponse")
	r.Message = &msg
	return r
}

// marshal writes m as Jackson's default pretty printer does: two-space
// indent, `"key" : value`, arrays on one line as `[ "a", "b" ]`.
func (m restMessage) marshal() []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	first := true
	field := func(k string) {
		if !first {
			b.WriteString(",\n")
		}
		first = false
		b.WriteString("  ")
		writeJSONString(&b, k)
		b.WriteString(" : ")
	}
	str := func(k string, v *string) {
		if v != nil {
			field(k)
			writeJSONString(&b, *v)
		}
	}
	str("action", &m.Action)
	str("driverState", m.DriverState)
	str("highestProtocolVersion", m.HighestProtocolVersion)
	str("message", m.Message)
	str("serverSparkVersion", m.ServerSparkVersion)
	str("submissionId", m.SubmissionID)
	if m.Success != nil {
		field("success")
		b.WriteString(strconv.FormatBool(*m.Success))
	}
	if m.UnknownFields != nil {
		field("unknownFields")
		if len(m.UnknownFields) == 0 {
			b.WriteString("[ ]")
		} else {
			b.WriteString("[ ")
			for i, f := range m.UnknownFields {
				if i > 0 {
					b.WriteString(", ")
				}
				writeJSONString(&b, f)
			}
			b.WriteString(" ]")
		}
	}
	str("workerHostPort", m.WorkerHostPort)
	str("workerId", m.WorkerID)
	b.WriteString("\n}")
	return b.Bytes()
}

// writeJSONString writes s quoted, escaping what JSON requires and no
// HTML characters (as Jackson).
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// createRequest is a decoded CreateSubmissionRequest.
type createRequest struct {
	ClientSparkVersion   *string
	AppResource          *string
	MainClass            *string
	AppArgs              []string
	HasAppArgs           bool
	SparkProperties      map[string]string
	EnvironmentVariables map[string]string
	UnknownFields        []string
}

// Actions: the request Ember serves and the message classes Spark's
// parser knows but refuses on the create path.
var otherActions = map[string]bool{
	"CreateSubmissionResponse": true, "KillSubmissionResponse": true, "KillAllSubmissionResponse": true,
	"SubmissionStatusResponse": true, "ClearResponse": true, "ReadyzResponse": true, "ErrorResponse": true,
}

// createFields are the properties a CreateSubmissionRequest has.
var createFields = map[string]bool{"action": true, "message": true, "clientSparkVersion": true, "appResource": true,
	"mainClass": true, "appArgs": true, "sparkProperties": true, "environmentVariables": true}

// errUnexpectedAction is a well-formed message of another type than the
// path serves.
type errUnexpectedAction struct{ action string }

func (e errUnexpectedAction) Error() string {
	return "Received message of unexpected type " + e.action + "."
}

// parseCreateRequest decodes and validates a create request as Spark's
// SubmitRestProtocolMessage.fromJson and validate do. Scalars are taken
// where strings are expected (Jackson's coercion); unknown properties are
// collected, not refused. An errUnexpectedAction is a message of another
// type; any other error makes the request malformed.
func parseCreateRequest(body []byte) (*createRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &protocolError{class: "SubmitRestMissingFieldException", msg: "Action field not found in JSON:\n" + string(body)}
	}
	fields := map[string]json.RawMessage{}
	var order []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		if _, seen := fields[k]; !seen {
			order = append(order, k)
		}
		fields[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("not JSON: data after the object")
	}
	action, err := scalarString("action", fields["action"])
	if err != nil {
		return nil, err
	}
	if action == nil {
		return nil, &protocolError{class: "SubmitRestMissingFieldException", msg: "Action field not found in JSON:\n" + string(body)}
	}
	if otherActions[*action] {
		return nil, errUnexpectedAction{*action}
	}
	if *action != "CreateSubmissionRequest" {
		return nil, fmt.Errorf("unknown action %q: this server reads CreateSubmissionRequest", *action)
	}
	r := &createRequest{}
	if _, err := scalarString("message", fields["message"]); err != nil {
		return nil, err
	}
	if r.ClientSparkVersion, err = scalarString("clientSparkVersion", fields["clientSparkVersion"]); err != nil {
		return nil, err
	}
	if r.AppResource, err = scalarString("appResource", fields["appResource"]); err != nil {
		return nil, err
	}
	if r.MainClass, err = scalarString("mainClass", fields["mainClass"]); err != nil {
		return nil, err
	}
	if r.AppArgs, r.HasAppArgs, err = stringArray("appArgs", fields["appArgs"]); err != nil {
		return nil, err
	}
	if r.SparkProperties, err = stringMap("sparkProperties", fields["sparkProperties"]); err != nil {
		return nil, err
	}
	if r.EnvironmentVariables, err = stringMap("environmentVariables", fields["environmentVariables"]); err != nil {
		return nil, err
	}
	for _, k := range order {
		if !createFields[k] || isJSONNull(fields[k]) {
			r.UnknownFields = append(r.UnknownFields, k)
		}
	}
	return r, r.validate()
}

func isJSONNull(v json.RawMessage) bool { return len(v) == 0 || string(bytes.TrimSpace(v)) == "null" }

// scalarString reads a string property; numbers and booleans become
// their text, null or absence nil.
func scalarString(name string, v json.RawMessage) (*string, error) {
	if isJSONNull(v) {
		return nil, nil
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return nil, fmt.Errorf("'%s': %w", name, err)
	}
	switch t := x.(type) {
	case string:
		return &t, nil
	case json.Number:
		s := t.String()
		return &s, nil
	case bool:
		s := strconv.FormatBool(t)
		return &s, nil
	}
	return nil, fmt.Errorf("'%s' must be a string, not %s", name, jsonKind(x))
}

func jsonKind(x any) string {
	switch x.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", x)
}

// stringArray reads an array of strings (ok false: absent or null).
func stringArray(name string, v json.RawMessage) (out []string, ok bool, err error) {
	if isJSONNull(v) {
		return nil, false, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, false, fmt.Errorf("'%s' must be an array of strings", name)
	}
	out = make([]string, 0, len(raw))
	for i, e := range raw {
		s, err := scalarString(fmt.Sprintf("%s[%d]", name, i), e)
		if err != nil {
			return nil, false, err
		}
		if s == nil {
			return nil, false, fmt.Errorf("'%s[%d]' is null", name, i)
		}
		out = append(out, *s)
	}
	return out, true, nil
}

// stringMap reads an object of strings (nil: absent or null).
func stringMap(name string, v json.RawMessage) (map[string]string, error) {
	if isJSONNull(v) {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, fmt.Errorf("'%s' must be an object of strings", name)
	}
	out := make(map[string]string, len(raw))
	for k, e := range raw {
		s, err := scalarString(name+"."+k, e)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, fmt.Errorf("'%s.%s' is null", name, k)
		}
		out[k] = *s
	}
	return out, nil
}

// protocolError is a request Spark's servlet refuses with an exception:
// its message starts as that exception's toString, and where Spark's
// goes on with a stack trace, Ember's gives the cause.
type protocolError struct {
	class  string // the exception's simple class name
	msg    string
	detail string
}

func (e *protocolError) Error() string {
	s := "org.apache.spark.deploy.rest." + e.class + ": " + e.msg
	if e.detail != "" {
		s += "\n\tcaused by: " + e.detail
	}
	return s
}

// validate is Spark 4.1.4's CreateSubmissionRequest.doValidate (which no
// longer asks for appArgs, environmentVariables or spark.app.name).
func (r *createRequest) validate() error {
	const msg = "CreateSubmissionRequest"
	failed := func(detail string) error {
		return &protocolError{class: "SubmitRestProtocolException", msg: "Validation of message " + msg + " failed!", detail: detail}
	}
	missing := func(name string) error {
		return failed(fmt.Sprintf("'%s' is missing in message %s.", name, msg))
	}
	if r.ClientSparkVersion == nil {
		return missing("clientSparkVersion")
	}
	if r.SparkProperties == nil {
		return failed("No Spark properties set!")
	}
	if r.AppResource == nil {
		return missing("appResource")
	}
	checks := []struct {
		key, kind string
		ok        func(string) bool
	}{
		{"spark.driver.supervise", "boolean", func(s string) bool { _, err := javaBool(s); return err == nil }},
		{"spark.driver.cores", "numeric", javaNumeric},
		{"spark.cores.max", "numeric", javaNumeric},
		{"spark.driver.memory", "memory", func(s string) bool { _, err := memoryMB(s); return err == nil }},
		{"spark.executor.memory", "memory", func(s string) bool { _, err := memoryMB(s); return err == nil }},
	}
	for _, c := range checks {
		if v, ok := r.SparkProperties[c.key]; ok && !c.ok(v) {
			return failed(fmt.Sprintf("Property '%s' expected %s value: actual was '%s'.", c.key, c.kind, v))
		}
	}
	return nil
}

// javaBool is Scala's String.toBoolean.
func javaBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// javaNumeric is whether Java's Double.parseDouble takes s.
func javaNumeric(s string) bool {
	t := strings.TrimSpace(s)
	if n := len(t); n > 1 && strings.ContainsRune("fFdD", rune(t[n-1])) {
		t = t[:n-1]
	}
	switch strings.TrimLeft(t, "+-") {
	case "NaN", "Infinity":
		return true
	case "inf", "Inf", "infinity", "nan":
		return false
	}
	_, err := strconv.ParseFloat(t, 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// javaInt is Java's Integer.parseInt.
func javaInt(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err
}

// memoryMB is Spark's Utils.memoryStringToMb: a byte string (bytes
// without a unit) in whole MiB.
func memoryMB(s string) (int, error) {
	b, err := sparkconf.ParseBytes(s, 1)
	if err != nil {
		return 0, err
	}
	mb := b / (1 << 20)
	if mb > math.MaxInt32 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int(mb), nil
}

var localEnvVar = regexp.MustCompile(`^SPARK_LOCAL_(IP|HOSTNAME)$`)

// driverDescription builds the driver a create request submits, as
// Spark's StandaloneSubmitRequestServlet.buildDriverDescription.
// masterURL is the master's spark:// RPC URL, restPort the REST server's
// port: a client's spark.master names it, the driver gets the RPC port
// instead. (Spark replaces the configured spark.master.rest.port; Ember
// the port it bound, which differs only after a port retry or with 0.)
func driverDescription(r *createRequest, masterURL string, restPort int, getenv func(string) (string, bool)) (deploy.DriverDescription, error) {
	var d deploy.DriverDescription
	if r.AppResource == nil {
		return d, &protocolError{class: "SubmitRestMissingFieldException", msg: "Application jar is missing."}
	}
	if r.MainClass == nil {
		return d, &protocolError{class: "SubmitRestMissingFieldException", msg: "Main class is missing."}
	}
	placeholder := func(v string) string {
		if name, ok := strings.CutPrefix(v, "{{"); ok {
			if name, ok = strings.CutSuffix(name, "}}"); ok {
				if x, set := getenv(name); set {
					return x
				}
			}
		}
		return v
	}
	props := make(map[string]string, len(r.SparkProperties)+1)
	for k, v := range r.SparkProperties {
		props[k] = placeholder(v)
	}
	master := masterURL
	if ms, ok := props["spark.master"]; ok {
		port := masterURL[strings.LastIndexByte(masterURL, ':')+1:]
		master = strings.ReplaceAll(ms, ":"+strconv.Itoa(restPort), ":"+port)
	}
	env := map[string]string{}
	for k, v := range r.EnvironmentVariables {
		if !localEnvVar.MatchString(k) {
			env[k] = placeholder(v)
		}
	}
	conf := make(map[string]string, len(props)+1)
	for k, v := range props {
		conf[k] = v
	}
	conf["spark.master"] = master
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	opts := append([]string(nil), jvmModuleOptions...)
	for _, k := range keys {
		opts = append(opts, "-D"+k+"="+conf[k])
	}
	for _, key := range []string{"spark.driver.defaultJavaOptions", "spark.driver.extraJavaOptions"} {
		if v, ok := props[key]; ok {
			split, err := sparkconf.SplitOptionString(v)
			if err != nil {
				return d, fmt.Errorf("%s: %w", key, err)
			}
			opts = append(opts, split...)
		}
	}
	args := []string{"{{WORKER_URL}}", "{{USER_JAR}}", *r.MainClass}
	if name, ok := props["spark.app.name"]; ok && *r.MainClass == sparkSubmitClass {
		args = append(args, "-c", "spark.app.name="+name)
	}
	args = append(args, r.AppArgs...)
	d = deploy.DriverDescription{JarURL: *r.AppResource, MemoryMB: defaultDriverMemoryMB, Cores: defaultDriverCores,
		Command: deploy.Command{MainClass: driverWrapperClass, Arguments: args,
			ClassPathEntries: pathList(props["spark.driver.extraClassPath"]), LibraryPathEntries: pathList(props["spark.driver.extraLibraryPath"]),
			JavaOpts: opts}}
	if len(env) > 0 {
		d.Command.Environment = env
	}
	var err error
	if v, ok := props["spark.driver.memory"]; ok {
		if d.MemoryMB, err = memoryMB(v); err != nil {
			return d, fmt.Errorf("spark.driver.memory: %w", err)
		}
	}
	if v, ok := props["spark.driver.cores"]; ok {
		if d.Cores, err = javaInt(v); err != nil {
			return d, fmt.Errorf("spark.driver.cores: %q is not an integer", v)
		}
	}
	if v, ok := props["spark.driver.supervise"]; ok {
		if d.Supervise, err = javaBool(v); err != nil {
			return d, fmt.Errorf("spark.driver.supervise: %w", err)
		}
	}
	return d, nil
}

// pathList splits a class or library path on ':' as Java's String.split:
// trailing empty entries dropped.
func pathList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ":")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 {
		return nil
	}
	return parts
}

// ---- the HTTP side ----

// restHandler serves the protocol. Its fields are set before it serves
// (restPort by startREST, before it installs the handler) and only read
// afterwards; requests run concurrently, each asking the master's
// endpoint, which alone touches State.
type restHandler struct {
	ask       func(ctx context.Context, msg any) (any, error)
	masterURL string
	restPort  int
	getenv    func(string) (string, bool)
	sem       chan struct{} // bounds requests served at once (spark.master.rest.maxThreads)
	jws       *jwsFilter    // nil: no filter
	log       *slog.Logger
	// protected, when set, is the refusal clients not on the master's
	// host get (protected mode without a JWS filter).
	protected string
}

// restProtectedText is the REST server's refusal in protected mode.
const restProtectedText = "Ember master's REST submission server is in protected mode: it serves only clients on the master's host; " +
	"set spark.master.rest.filters=org.apache.spark.ui.JWSFilter with spark.org.apache.spark.ui.JWSFilter.param.secretKey " +
	"(clients then sign their requests), or spark.ember.protectedMode=false to serve any client, " +
	"or spark.master.rest.enabled=false to turn the server off"

// ServeHTTP routes a request by its path, as Spark's servlet mapping.
func (h *restHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		return
	}
	var code int
	var msg restMessage
	if h.jws != nil {
		w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
		if reason := h.jws.check(r); reason != "" {
			code, msg = http.StatusForbidden, errorResponse(reason)
		}
	}
	if code == 0 && h.protected != "" && !auth.LocalHTTPClient(r) {
		code, msg = http.StatusForbidden, errorResponse(h.protected)
	}
	if code == 0 {
		code, msg = h.route(r)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(msg.marshal())
}

// route answers one request with a status code and a message.
func (h *restHandler) route(r *http.Request) (int, restMessage) {
	base := "/" + restProtocolVersion + "/submissions/"
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, base); ok {
		action, sub, _ := strings.Cut(rest, "/")
		post, get := r.Method == http.MethodPost, r.Method == http.MethodGet
		switch action {
		case "create":
			if !post {
				return methodNotAllowed(r.Method)
			}
			return h.create(r)
		case "kill":
			if !post {
				return methodNotAllowed(r.Method)
			}
			id, ok := submissionID(sub)
			if !ok {
				return http.StatusBadRequest, errorResponse("Submission ID is missing in kill request.")
			}
			return h.kill(r.Context(), id)
		case "killall":
			if !post {
				return methodNotAllowed(r.Method)
			}
			return h.killAll(r.Context())
		case "status":
			if !get {
				return methodNotAllowed(r.Method)
			}
			id, ok := submissionID(sub)
			if !ok {
				return http.StatusBadRequest, errorResponse("Submission ID is missing in status request.")
			}
			return h.status(r.Context(), id)
		case "clear":
			if !post {
				return methodNotAllowed(r.Method)
			}
			return h.clear(r.Context())
		case "readyz":
			if !get {
				return methodNotAllowed(r.Method)
			}
			return h.readyz(r.Context())
		}
	}
	return pathError(p)
}

// submissionID is the first segment of what follows the action (Spark's
// parseSubmissionId): "" or a leading empty segment has none.
func submissionID(sub string) (string, bool) {
	id, _, _ := strings.Cut(sub, "/")
	return id, id != ""
}

func methodNotAllowed(method string) (int, restMessage) {
	return http.StatusMethodNotAllowed, errorResponse("HTTP method " + method + " is not supported by this URL")
}

// pathError is Spark's ErrorServlet: every other path.
func pathError(p string) (int, restMessage) {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			parts = append(parts, s)
		}
	}
	var msg string
	code := http.StatusBadRequest
	var highest *string
	switch {
	case len(parts) == 0:
		msg = "Missing protocol version."
	case parts[0] == restProtocolVersion && len(parts) == 1:
		msg = "Missing the /submissions prefix."
	case parts[0] == restProtocolVersion && parts[1] == "submissions":
		msg = "Missing an action: please specify one of /create, /kill, /killall, /clear, /status, or /readyz."
	default:
		msg = "Unknown protocol version '" + parts[0] + "'."
		code, highest = restUnknownProtocolVersion, strp(restProtocolVersion)
	}
	e := errorResponse(msg + " Please submit requests through http://[host]:[port]/" + restProtocolVersion + "/submissions/...")
	e.HighestProtocolVersion = highest
	return code, e
}

// askFailed answers a request the master could not answer.
func askFailed(err error) (int, restMessage) {
	if errors.Is(err, deploy.ErrInvalid) {
		return http.StatusBadRequest, errorResponse("Malformed request: " + err.Error())
	}
	return http.StatusInternalServerError, errorResponse("Internal server error: " + err.Error())
}

func (h *restHandler) create(r *http.Request) (int, restMessage) {
	body, err := io.ReadAll(io.LimitReader(r.Body, restMaxBody+1))
	if err != nil {
		return http.StatusBadRequest, errorResponse("Malformed request: reading the body: " + err.Error())
	}
	if len(body) > restMaxBody {
		return http.StatusRequestEntityTooLarge, errorResponse(fmt.Sprintf("Malformed request: the body is over %d bytes", restMaxBody))
	}
	req, err := parseCreateRequest(body)
	var unexpected errUnexpectedAction
	if errors.As(err, &unexpected) {
		return http.StatusBadRequest, errorResponse(unexpected.Error())
	}
	if err != nil {
		return http.StatusBadRequest, errorResponse("Malformed request: " + err.Error())
	}
	desc, err := driverDescription(req, h.masterURL, h.restPort, h.getenv)
	if err != nil {
		return http.StatusBadRequest, errorResponse("Malformed request: " + err.Error())
	}
	if err := deploy.Validate(deploy.RequestSubmitDriver{Desc: desc}); err != nil {
		return http.StatusBadRequest, errorResponse("Malformed request: " + err.Error())
	}
	v, err := h.ask(r.Context(), deploy.RequestSubmitDriver{Desc: desc})
	if err != nil {
		return askFailed(err)
	}
	sub, ok := v.(deploy.SubmitDriverResponse)
	if !ok {
		return askFailed(fmt.Errorf("the master answered %T", v))
	}
	resp := newResponse("CreateSubmissionResponse")
	resp.Message, resp.Success, resp.SubmissionID = strp(sub.Message), boolp(sub.Success), sub.DriverID
	if len(req.UnknownFields) > 0 {
		resp.UnknownFields = req.UnknownFields
	}
	if sub.Success && sub.DriverID != nil {
		h.log.Info("driver submitted over REST", "driver", *sub.DriverID, "from", r.RemoteAddr)
	}
	return http.StatusOK, resp
}

func (h *restHandler) kill(ctx context.Context, id string) (int, restMessage) {
	resp := newResponse("KillSubmissionResponse")
	resp.SubmissionID = &id
	msg := deploy.RequestKillDriver{DriverID: id}
	if deploy.Validate(msg) != nil {
		// No driver has such an id: the master's own answer.
		resp.Message, resp.Success = strp("Driver "+id+" has already finished or does not exist"), boolp(false)
		return http.StatusOK, resp
	}
	v, err := h.ask(ctx, msg)
	if err != nil {
		return askFailed(err)
	}
	k, ok := v.(deploy.KillDriverResponse)
	if !ok {
		return askFailed(fmt.Errorf("the master answered %T", v))
	}
	resp.Message, resp.Success = strp(k.Message), boolp(k.Success)
	return http.StatusOK, resp
}

func (h *restHandler) killAll(ctx context.Context) (int, restMessage) {
	v, err := h.ask(ctx, stateCall{fn: func(s *State) any { return s.KillAllDrivers() }})
	if err != nil {
		return askFailed(err)
	}
	k, ok := v.(killAllResult)
	if !ok {
		return askFailed(fmt.Errorf("the master answered %T", v))
	}
	resp := newResponse("KillAllSubmissionResponse")
	resp.Message, resp.Success = strp(k.Message), boolp(k.Success)
	return http.StatusOK, resp
}

func (h *restHandler) status(ctx context.Context, id string) (int, restMessage) {
	resp := newResponse("SubmissionStatusResponse")
	resp.SubmissionID = &id
	msg := deploy.RequestDriverStatus{DriverID: id}
	if deploy.Validate(msg) != nil {
		resp.Success = boolp(false)
		return http.StatusOK, resp
	}
	v, err := h.ask(ctx, msg)
	if err != nil {
		return askFailed(err)
	}
	st, ok := v.(deploy.DriverStatusResponse)
	if !ok {
		return askFailed(fmt.Errorf("the master answered %T", v))
	}
	resp.Success = boolp(st.Found)
	if st.State != nil {
		resp.DriverState = strp(string(*st.State))
	}
	resp.WorkerID, resp.WorkerHostPort = st.WorkerID, st.WorkerHostPort
	if st.Exception != nil {
		resp.Message = strp("Exception from the cluster:\n" + *st.Exception)
	}
	return http.StatusOK, resp
}

func (h *restHandler) clear(ctx context.Context) (int, restMessage) {
	v, err := h.ask(ctx, stateCall{fn: func(s *State) any { return s.ClearCompleted() }})
	if err != nil {
		return askFailed(err)
	}
	ok, _ := v.(bool)
	resp := newResponse("ClearResponse")
	resp.Message, resp.Success = strp(""), boolp(ok)
	return http.StatusOK, resp
}

func (h *restHandler) readyz(ctx context.Context) (int, restMessage) {
	v, err := h.ask(ctx, deploy.RequestReadyz{})
	if err != nil {
		return askFailed(err)
	}
	if ready, _ := v.(bool); !ready {
		return http.StatusServiceUnavailable, errorResponse("Master is not ready.")
	}
	resp := newResponse("ReadyzResponse")
	resp.Message, resp.Success = strp(""), boolp(true)
	return http.StatusOK, resp
}
