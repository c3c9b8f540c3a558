package sparkmsg

import (
	"fmt"
	"sort"

	"github.com/ember-rpc/ember/codec/javaser"
	"github.com/ember-rpc/ember/codec/javaser/scala"
	"github.com/ember-rpc/ember/deploy"
	"github.com/ember-rpc/ember/rpcenv"
)

// Class names of Spark 4.1's deploy classes.
const (
	pkgDeploy = "org.apache.spark.deploy."
	msgs      = pkgDeploy + "DeployMessages$"

	RegisterApplicationClass      = msgs + "RegisterApplication"
	RegisteredApplicationClass    = msgs + "RegisteredApplication"
	ExecutorAddedClass            = msgs + "ExecutorAdded"
	ExecutorUpdatedClass          = msgs + "ExecutorUpdated"
	ApplicationRemovedClass       = msgs + "ApplicationRemoved"
	WorkerRemovedClass            = msgs + "WorkerRemoved"
	MasterChangedClass            = msgs + "MasterChanged"
	MasterChangeAcknowledgedClass = msgs + "MasterChangeAcknowledged"
	UnregisterApplicationClass    = msgs + "UnregisterApplication"
	RequestExecutorsClass         = msgs + "RequestExecutors"
	KillExecutorsClass            = msgs + "KillExecutors"
	RequestSubmitDriverClass      = msgs + "RequestSubmitDriver"
	SubmitDriverResponseClass     = msgs + "SubmitDriverResponse"
	RequestDriverStatusClass      = msgs + "RequestDriverStatus"
	DriverStatusResponseClass     = msgs + "DriverStatusResponse"
	RequestKillDriverClass        = msgs + "RequestKillDriver"
	KillDriverResponseClass       = msgs + "KillDriverResponse"

	ApplicationDescriptionClass = pkgDeploy + "ApplicationDescription"
	CommandClass                = pkgDeploy + "Command"
	DriverDescriptionClass      = pkgDeploy + "DriverDescription"
	ResourceProfileClass        = "org.apache.spark.resource.ResourceProfile"
	ExecutorResourceClass       = "org.apache.spark.resource.ExecutorResourceRequest"
	TaskResourceClass           = "org.apache.spark.resource.TaskResourceRequest"

	withDefaultClass = "scala.collection.immutable.Map$WithDefault"

	ExecutorStateModule = pkgDeploy + "ExecutorState$"
	DriverStateModule   = pkgDeploy + "master.DriverState$"
)

// executorStates and driverStates are the Enumeration values in id order.
var (
	executorStates = []deploy.ExecutorState{deploy.ExecutorLaunching, deploy.ExecutorRunning, deploy.ExecutorKilled,
		deploy.ExecutorFailed, deploy.ExecutorLost, deploy.ExecutorExited, deploy.ExecutorDecommissioned}
	driverStates = []deploy.DriverState{deploy.DriverSubmitted, deploy.DriverRunning, deploy.DriverFinished,
		deploy.DriverRelaunching, deploy.DriverUnknown, deploy.DriverKilled, deploy.DriverFailed, deploy.DriverError}
)

func stateID[S comparable](states []S, s S) (int32, error) {
	for i, x := range states {
		if x == s {
			return int32(i), nil
		}
	}
	return 0, fmt.Errorf("sparkmsg: state %v has no Spark id", s)
}

func stateOf[S any](states []S, v any, module string) (S, error) {
	var zero S
	m, id, _, err := scala.EnumValue(v)
	if err != nil {
		return zero, err
	}
	if m != module || id < 0 || int(id) >= len(states) {
		return zero, fmt.Errorf("sparkmsg: %s value %d is not a %s", m, id, module)
	}
	return states[id], nil
}

// Mapper converts the deploy messages; it is registered with rpcenv at
// init.
type Mapper struct{}

func init() { rpcenv.RegisterJavaMapper(Mapper{}) }

// reader reads fields of one object, keeping the first error.
type reader struct {
	o   *javaser.Object
	err error
}

func (r *reader) fail(field string, err error) {
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("field %s: %w", field, err)
	}
}

func (r *reader) get(f string) any {
	v, err := r.o.Field(f)
	r.fail(f, err)
	return v
}

func (r *reader) str(f string) string {
	s, err := r.o.StringField(f)
	r.fail(f, err)
	return s
}

func (r *reader) int(f string) int {
	i, err := r.o.IntField(f)
	r.fail(f, err)
	return int(i)
}

func (r *reader) bool(f string) bool {
	b, err := r.o.BoolField(f)
	r.fail(f, err)
	return b
}

func (r *reader) obj(f string) *javaser.Object {
	o, err := r.o.ObjectField(f)
	r.fail(f, err)
	if o == nil && err == nil {
		r.fail(f, fmt.Errorf("null"))
	}
	return o
}

func (r *reader) optString(f string) *string {
	s, ok, err := scala.OptionString(r.get(f))
	r.fail(f, err)
	if !ok || err != nil {
		return nil
	}
	return &s
}

func (r *reader) optInt(f string) *int {
	v, ok, err := scala.Option(r.get(f))
	r.fail(f, err)
	if !ok || err != nil {
		return nil
	}
	i, err := scala.Int(v)
	r.fail(f, err)
	n := int(i)
	return &n
}

// strings reads a Seq[String]; an empty one is nil.
func (r *reader) strings(f string) []string {
	s, err := scala.Strings(r.get(f))
	r.fail(f, err)
	if len(s) == 0 {
		return nil
	}
	return s
}

func (r *reader) ref(f string, jc *rpcenv.JavaConv) *rpcenv.Ref {
	ref, err := jc.Ref(r.get(f))
	r.fail(f, err)
	return ref
}

// FromJava implements rpcenv.JavaMapper.
func (Mapper) FromJava(o *javaser.Object, jc *rpcenv.JavaConv) (any, bool, error) {
	r := &reader{o: o}
	var msg any
	switch o.ClassName() {
	case RegisterApplicationClass:
		desc, err := appDescFromJava(r.obj("appDescription"))
		r.fail("appDescription", err)
		driver := r.ref("driver", jc)
		if r.err == nil && driver == nil {
			r.fail("driver", fmt.Errorf("null"))
		}
		msg = deploy.RegisterApplication{AppDescription: desc, Driver: driver}
	case UnregisterApplicationClass:
		msg = deploy.UnregisterApplication{AppID: r.str("appId")}
	case MasterChangeAcknowledgedClass:
		msg = deploy.MasterChangeAcknowledged{AppID: r.str("appId")}
	case RequestExecutorsClass:
		pairs, err := scala.Map(r.get("resourceProfileToTotalExecs"))
		r.fail("resourceProfileToTotalExecs", err)
		total := 0
		for _, p := range pairs {
			n, err := scala.Int(p.Value)
			r.fail("resourceProfileToTotalExecs", err)
			total += int(n)
		}
		msg = deploy.RequestExecutors{AppID: r.str("appId"), RequestedTotal: total}
	case KillExecutorsClass:
		msg = deploy.KillExecutors{AppID: r.str("appId"), ExecutorIDs: r.strings("executorIds")}
	case RequestSubmitDriverClass:
		d, err := driverDescFromJava(r.obj("driverDescription"))
		r.fail("driverDescription", err)
		msg = deploy.RequestSubmitDriver{Desc: d}
	case RequestDriverStatusClass:
		msg = deploy.RequestDriverStatus{DriverID: r.str("driverId")}
	case RequestKillDriverClass:
		msg = deploy.RequestKillDriver{DriverID: r.str("driverId")}
	case RegisteredApplicationClass:
		msg = deploy.RegisteredApplication{AppID: r.str("appId"), Master: r.ref("master", jc)}
	case ExecutorAddedClass:
		msg = deploy.ExecutorAdded{ID: r.int("id"), WorkerID: r.str("workerId"), HostPort: r.str("hostPort"),
			Cores: r.int("cores"), MemoryMB: r.int("memory")}
	case ExecutorUpdatedClass:
		st, err := stateOf(executorStates, r.get("state"), ExecutorStateModule)
		r.fail("state", err)
		msg = deploy.ExecutorUpdated{ID: r.int("id"), State: st, Message: r.optString("message"),
			ExitStatus: r.optInt("exitStatus"), WorkerHost: r.optString("workerHost")}
	case ApplicationRemovedClass:
		msg = deploy.ApplicationRemoved{Message: r.str("message")}
	case WorkerRemovedClass:
		msg = deploy.WorkerRemoved{ID: r.str("id"), Host: r.str("host"), Message: r.str("message")}
	case MasterChangedClass:
		msg = deploy.MasterChanged{Master: r.ref("master", jc), MasterWebUIURL: r.str("masterWebUiUrl")}
	case SubmitDriverResponseClass:
		msg = deploy.SubmitDriverResponse{Success: r.bool("success"), DriverID: r.optString("driverId"), Message: r.str("message")}
	case KillDriverResponseClass:
		msg = deploy.KillDriverResponse{DriverID: r.str("driverId"), Success: r.bool("success"), Message: r.str("message")}
	case DriverStatusResponseClass:
		resp := deploy.DriverStatusResponse{Found: r.bool("found"), WorkerID: r.optString("workerId"),
			WorkerHostPort: r.optString("workerHostPort")}
		if v, ok, err := scala.Option(r.get("state")); err != nil {
			r.fail("state", err)
		} else if ok {
			st, err := stateOf(driverStates, v, DriverStateModule)
			r.fail("state", err)
			resp.State = &st
		}
		if v, ok, err := scala.Option(r.get("exception")); err != nil {
			r.fail("exception", err)
		} else if ok {
			if x, isObj := v.(*javaser.Object); isObj {
				s, _ := x.StringField("detailMessage")
				s = x.ClassName() + ": " + s
				resp.Exception = &s
			}
		}
		msg = resp
	default:
		return nil, false, nil
	}
	if r.err != nil {
		return nil, true, r.err
	}
	return msg, true, nil
}

func appDescFromJava(o *javaser.Object) (deploy.ApplicationDescription, error) {
	var d deploy.ApplicationDescription
	if o == nil {
		return d, nil // the caller reports the null
	}
	if o.ClassName() != ApplicationDescriptionClass {
		return d, fmt.Errorf("an object of class %s where an ApplicationDescription was expected", o.ClassName())
	}
	r := &reader{o: o}
	d.Name = r.str("name")
	d.MaxCores = r.optInt("maxCores")
	d.AppUIURL = r.str("appUiUrl")
	d.InitialExecutorLimit = r.optInt("initialExecutorLimit")
	d.User = r.str("user")
	cmd, err := commandFromJava(r.obj("command"))
	r.fail("command", err)
	d.Command = cmd
	mem, cores, err := profileFromJava(r.obj("defaultProfile"))
	r.fail("defaultProfile", err)
	d.MemoryPerExecutorMB, d.CoresPerExecutor = mem, cores
	return d, r.err
}

// profileFromJava reads the executor memory (MiB; 1024 when absent, as
// Spark's ApplicationDescription) and cores of a ResourceProfile.
func profileFromJava(o *javaser.Object) (int, *int, error) {
	if o == nil {
		return 0, nil, nil
	}
	r := &reader{o: o}
	pairs, err := scala.Map(r.get("executorResources"))
	r.fail("executorResources", err)
	mem := 1024
	var cores *int
	for _, p := range pairs {
		name, err := scala.String(p.Key)
		r.fail("executorResources", err)
		req, ok := p.Value.(*javaser.Object)
		if !ok || req == nil {
			r.fail("executorResources", fmt.Errorf("%s holds no ExecutorResourceRequest", name))
			continue
		}
		amount, err := req.LongField("amount")
		r.fail("executorResources", err)
		switch name {
		case "memory":
			mem = int(amount)
		case "cores":
			n := int(amount)
			cores = &n
		}
	}
	return mem, cores, r.err
}

func commandFromJava(o *javaser.Object) (deploy.Command, error) {
	var c deploy.Command
	if o == nil {
		return c, nil
	}
	if o.ClassName() != CommandClass {
		return c, fmt.Errorf("an object of class %s where a Command was expected", o.ClassName())
	}
	r := &reader{o: o}
	c.MainClass = r.str("mainClass")
	c.Arguments = r.strings("arguments")
	envMap := r.get("environment")
	if m, ok := envMap.(*javaser.Object); ok && m != nil && m.ClassName() == withDefaultClass {
		// sys.env (cluster-mode submissions): the map under its default.
		envMap, _ = m.Get("underlying")
	}
	env, err := scala.StringMap(envMap)
	r.fail("environment", err)
	if len(env) > 0 {
		c.Environment = env
	}
	c.ClassPathEntries = r.strings("classPathEntries")
	c.LibraryPathEntries = r.strings("libraryPathEntries")
	c.JavaOpts = r.strings("javaOpts")
	return c, r.err
}

func driverDescFromJava(o *javaser.Object) (deploy.DriverDescription, error) {
	var d deploy.DriverDescription
	if o == nil {
		return d, nil
	}
	if o.ClassName() != DriverDescriptionClass {
		return d, fmt.Errorf("an object of class %s where a DriverDescription was expected", o.ClassName())
	}
	r := &reader{o: o}
	d.JarURL = r.str("jarUrl")
	d.MemoryMB = r.int("mem")
	d.Cores = r.int("cores")
	d.Supervise = r.bool("supervise")
	cmd, err := commandFromJava(r.obj("command"))
	r.fail("command", err)
	d.Command = cmd
	return d, r.err
}

// ToJava implements rpcenv.JavaMapper.
func (Mapper) ToJava(msg any, jc *rpcenv.JavaConv) (any, bool, error) {
	b := jc.Builder
	optStr := func(s *string) *javaser.Object {
		if s == nil {
			return b.None()
		}
		return b.Some(*s)
	}
	optInt := func(i *int) *javaser.Object {
		if i == nil {
			return b.None()
		}
		return b.Some(b.Int(int32(*i)))
	}
	master := func(r *rpcenv.Ref) *javaser.Object {
		if r == nil {
			r = jc.LocalRef(deploy.MasterEndpointName)
		}
		return jc.RefObject(r)
	}
	switch m := msg.(type) {
	case deploy.RegisteredApplication:
		return b.New(RegisteredApplicationClass, "appId", m.AppID, "master", master(m.Master)), true, nil
	case deploy.ExecutorAdded:
		return b.New(ExecutorAddedClass, "id", m.ID, "workerId", m.WorkerID, "hostPort", m.HostPort,
			"cores", m.Cores, "memory", m.MemoryMB), true, nil
	case deploy.ExecutorUpdated:
		id, err := stateID(executorStates, m.State)
		if err != nil {
			return nil, true, err
		}
		return b.New(ExecutorUpdatedClass, "id", m.ID, "state", b.EnumValue(ExecutorStateModule, id),
			"message", optStr(m.Message), "exitStatus", optInt(m.ExitStatus), "workerHost", optStr(m.WorkerHost)), true, nil
	case deploy.ApplicationRemoved:
		return b.New(ApplicationRemovedClass, "message", m.Message), true, nil
	case deploy.WorkerRemoved:
		return b.New(WorkerRemovedClass, "id", m.ID, "host", m.Host, "message", m.Message), true, nil
	case deploy.MasterChanged:
		return b.New(MasterChangedClass, "master", master(m.Master), "masterWebUiUrl", m.MasterWebUIURL), true, nil
	case deploy.MasterChangeAcknowledged:
		return b.New(MasterChangeAcknowledgedClass, "appId", m.AppID), true, nil
	case deploy.UnregisterApplication:
		return b.New(UnregisterApplicationClass, "appId", m.AppID), true, nil
	case deploy.KillExecutors:
		return b.New(KillExecutorsClass, "appId", m.AppID, "executorIds", b.Strings(m.ExecutorIDs...)), true, nil
	case deploy.RequestDriverStatus:
		return b.New(RequestDriverStatusClass, "driverId", m.DriverID), true, nil
	case deploy.RequestKillDriver:
		return b.New(RequestKillDriverClass, "driverId", m.DriverID), true, nil
	case deploy.SubmitDriverResponse:
		return b.New(SubmitDriverResponseClass, "master", master(nil), "success", m.Success,
			"driverId", optStr(m.DriverID), "message", m.Message), true, nil
	case deploy.KillDriverResponse:
		return b.New(KillDriverResponseClass, "master", master(nil), "driverId", m.DriverID,
			"success", m.Success, "message", m.Message), true, nil
	case deploy.DriverStatusResponse:
		state := b.None()
		if m.State != nil {
			id, err := stateID(driverStates, *m.State)
			if err != nil {
				return nil, true, err
			}
			state = b.Some(b.EnumValue(DriverStateModule, id))
		}
		// The exception stays None: Ember never writes a Throwable.
		return b.New(DriverStatusResponseClass, "found", m.Found, "state", state,
			"workerId", optStr(m.WorkerID), "workerHostPort", optStr(m.WorkerHostPort), "exception", b.None()), true, nil
	case deploy.RequestSubmitDriver:
		return b.New(RequestSubmitDriverClass, "driverDescription", b.New(DriverDescriptionClass,
			"jarUrl", m.Desc.JarURL, "mem", m.Desc.MemoryMB, "cores", m.Desc.Cores, "supervise", m.Desc.Supervise,
			"command", commandToJava(b, m.Desc.Command), "resourceReqs", b.List())), true, nil
	case deploy.RegisterApplication:
		return b.New(RegisterApplicationClass, "appDescription", appDescToJava(b, m.AppDescription),
			"driver", jc.RefObject(m.Driver)), true, nil
	case deploy.RequestExecutors:
		return b.New(RequestExecutorsClass, "appId", m.AppID, "resourceProfileToTotalExecs",
			b.Map(scala.Pair{Key: profileToJava(b, 1024, nil), Value: b.Int(int32(m.RequestedTotal))})), true, nil
	}
	return nil, false, nil
}

func commandToJava(b *scala.Builder, c deploy.Command) *javaser.Object {
	keys := make([]string, 0, len(c.Environment))
	for k := range c.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]scala.Pair, len(keys))
	for i, k := range keys {
		env[i] = scala.Pair{Key: k, Value: c.Environment[k]}
	}
	return b.New(CommandClass, "mainClass", c.MainClass, "arguments", b.Strings(c.Arguments...),
		"environment", b.Map(env...), "classPathEntries", b.Strings(c.ClassPathEntries...),
		"libraryPathEntries", b.Strings(c.LibraryPathEntries...), "javaOpts", b.Strings(c.JavaOpts...))
}

// profileToJava writes a default ResourceProfile (id 0) with the executor
// memory and, when set, cores, and one CPU per task.
func profileToJava(b *scala.Builder, memMB int, cores *int) *javaser.Object {
	empty := javaser.Str("")
	req := func(name string, amount int64) scala.Pair {
		n := javaser.Str(name)
		return scala.Pair{Key: n, Value: b.New(ExecutorResourceClass, "resourceName", n, "amount", amount,
			"discoveryScript", empty, "vendor", empty)}
	}
	var ereqs []scala.Pair
	if cores != nil {
		ereqs = append(ereqs, req("cores", int64(*cores)))
	}
	ereqs = append(ereqs, req("memory", int64(memMB)), req("offHeap", 0))
	cpus := javaser.Str("cpus")
	return b.New(ResourceProfileClass, "executorResources", b.Map(ereqs...),
		"taskResources", b.Map(scala.Pair{Key: cpus, Value: b.New(TaskResourceClass, "resourceName", cpus, "amount", 1.0)}),
		"_id", 0, "_executorResourceSlotsPerAddr", b.None(), "_limitingResource", b.None(), "_maxTasksPerExecutor", b.None())
}

func appDescToJava(b *scala.Builder, d deploy.ApplicationDescription) *javaser.Object {
	opt := func(i *int) *javaser.Object {
		if i == nil {
			return b.None()
		}
		return b.Some(b.Int(int32(*i)))
	}
	mem := d.MemoryPerExecutorMB
	if mem <= 0 {
		mem = 1024
	}
	return b.New(ApplicationDescriptionClass, "name", d.Name, "maxCores", opt(d.MaxCores),
		"command", commandToJava(b, d.Command), "appUiUrl", d.AppUIURL, "defaultProfile", profileToJava(b, mem, d.CoresPerExecutor),
		"eventLogDir", b.None(), "eventLogCodec", b.None(), "initialExecutorLimit", opt(d.InitialExecutorLimit), "user", d.User)
}
