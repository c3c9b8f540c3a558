package webui

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// confirmHandler is the one script the pages run: a kill button's
// onclick (the "killform" template writes it out literally) asks the
// browser to confirm the button's data-confirm message, so peer-supplied
// ids stay in an HTML attribute, never in script text.
const confirmHandler = "return confirm(this.dataset.confirm)"

// contentSecurityPolicy allows the inline stylesheet and, by its hash,
// the confirmHandler attribute, and nothing else: no other script runs
// and the pages load nothing.
var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(confirmHandler))
	return "default-src 'none'; style-src 'unsafe-inline'; " +
		"script-src 'unsafe-hashes' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src data:; " +
		"form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
}()

// renderHTML executes the named page template into a buffer (so a
// template error is a clean 500) and writes it.
func renderHTML(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "rendering page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

type errorView struct {
	Meta    pageMeta
	Code    int
	Message string
}

func renderError(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	renderHTML(w, r, code, "error", errorView{
		Meta:    pageMeta{Title: title, Kind: "UI", Rendered: time.Now().Format("2006/01/02 15:04:05")},
		Code:    code,
		Message: msg,
	})
}

// pageMeta is what the shared header needs.
type pageMeta struct {
	Title    string // <title> and the header's heading
	Kind     string // "Master", "Worker"
	Sub      string // the line under the heading (a URL)
	SubHref  string // where Sub links to, if anywhere
	Status   string // a state badge next to the heading
	Refresh  int    // <meta http-equiv=refresh> seconds; 0 = none
	Links    bool   // the footer links to json and metrics (top-level pages)
	Rendered string
	Warning  string // a banner under the header (Options.Warning)
}

func newMeta(kind, title, defTitle string, opts Options, r *http.Request) pageMeta {
	if title == "" {
		title = defTitle
	}
	m := pageMeta{Title: title, Kind: kind, Links: true, Rendered: time.Now().Format("2006/01/02 15:04:05"), Warning: opts.Warning}
	if n, err := strconv.Atoi(r.URL.Query().Get("refresh")); err == nil && n > 0 && n <= 3600 {
		m.Refresh = n
	}
	return m
}

// ---- master page ----

type resourceUse struct {
	Name        string
	Used, Total int
}

type masterView struct {
	Meta        pageMeta
	S           deploy.MasterStateResponse
	KillEnabled bool

	Workers                                        []deploy.WorkerInfoJSON
	Alive, Dead, Decommissioned, OtherWorkers      int
	CoresPct, MemPct                               int
	ActiveApps, CompletedApps                      []deploy.ApplicationInfoJSON
	ActiveDrivers, CompletedDrivers                []deploy.DriverInfoJSON
	RunningApps, WaitingApps                       int
	Resources                                      []resourceUse
	WorkerResources, AppResources, DriverResources bool
}

func newMasterView(st deploy.MasterStateResponse, opts Options, r *http.Request) masterView {
	v := masterView{
		Meta:        newMeta("Master", opts.Title, "Ember Master at "+st.URL, opts, r),
		S:           st,
		KillEnabled: opts.KillEnabled,
	}
	if opts.Title != "" {
		v.Meta.Sub = st.URL
	}
	v.Meta.Status = string(st.Status)

	// Spark's MasterPage: workers by id, apps and drivers newest first.
	v.Workers = append([]deploy.WorkerInfoJSON(nil), st.Workers...)
	sort.SliceStable(v.Workers, func(i, j int) bool { return v.Workers[i].ID < v.Workers[j].ID })
	for _, w := range v.Workers {
		switch w.State {
		case deploy.WorkerAlive:
			v.Alive++
		case deploy.WorkerDead:
			v.Dead++
		case deploy.WorkerDecommissioned:
			v.Decommissioned++
		default:
			v.OtherWorkers++
		}
		if len(w.Resources) > 0 {
			v.WorkerResources = true
		}
	}
	v.ActiveApps = newestApps(st.ActiveApps)
	v.CompletedApps = newestApps(st.CompletedApps)
	for _, a := range st.ActiveApps {
		if a.State == deploy.AppWaiting {
			v.WaitingApps++
		} else {
			v.RunningApps++
		}
	}
	for _, a := range append(append([]deploy.ApplicationInfoJSON(nil), st.ActiveApps...), st.CompletedApps...) {
		if len(a.ResourcesPerExecutor) > 0 {
			v.AppResources = true
		}
	}
	v.ActiveDrivers = newestDrivers(st.ActiveDrivers)
	v.CompletedDrivers = newestDrivers(st.CompletedDrivers)
	for _, d := range append(append([]deploy.DriverInfoJSON(nil), st.ActiveDrivers...), st.CompletedDrivers...) {
		if len(d.Resources) > 0 {
			v.DriverResources = true
		}
	}
	v.CoresPct = boundedPct(st.CoresUsed, st.Cores)
	v.MemPct = boundedPct(st.MemoryUsed, st.Memory)
	v.Resources = sumResources(st.Resources, st.ResourcesUsed)
	return v
}

// boundedPct is a 0..100 share for the meters (0 when there is nothing).
func boundedPct(used, total int) int {
	if total <= 0 {
		return 0
	}
	return max(0, min(100, 100*used/total))
}

func newestApps(in []deploy.ApplicationInfoJSON) []deploy.ApplicationInfoJSON {
	out := append([]deploy.ApplicationInfoJSON(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartTime > out[j].StartTime })
	return out
}

func newestDrivers(in []deploy.DriverInfoJSON) []deploy.DriverInfoJSON {
	out := append([]deploy.DriverInfoJSON(nil), in...)
	key := func(d deploy.DriverInfoJSON) int64 { n, _ := strconv.ParseInt(d.StartTime, 10, 64); return n }
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) > key(out[j]) })
	return out
}

// sumResources totals the addresses per resource name over the alive
// workers' maps.
func sumResources(total, used []map[string]deploy.ResourceInformation) []resourceUse {
	byName := map[string]*resourceUse{}
	get := func(n string) *resourceUse {
		if byName[n] == nil {
			byName[n] = &resourceUse{Name: n}
		}
		return byName[n]
	}
	for _, m := range total {
		for n, ri := range m {
			get(n).Total += len(ri.Addresses)
		}
	}
	for _, m := range used {
		for n, ri := range m {
			get(n).Used += len(ri.Addresses)
		}
	}
	out := make([]resourceUse, 0, len(byName))
	for _, r := range byName {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ---- application page ----

// appExecRow is one executor on the application page, with its worker's
// UI and log pages there ("" when the worker's UI is unknown).
type appExecRow struct {
	deploy.ExecutorSummary
	WorkerURL, StdoutURL, StderrURL string
}

type appView struct {
	Meta pageMeta
	A    deploy.ApplicationDetail
	// Detailed is false when the source reports no executors; Note says
	// why.
	Detailed bool
	Note     string
	Cores    string // "4 (2 granted)", "Unlimited (2 granted)"
	Limit    string // the executor limit, "" when unlimited
	Active   bool   // WAITING or RUNNING
	// Executors are the live ones; Removed the finished or decommissioned
	// ones, current and removed alike (as Spark's page splits them).
	Executors, Removed []appExecRow
}

func newAppView(d deploy.ApplicationDetail, detailed bool, note string, opts Options, r *http.Request) appView {
	m := newMeta("Master", "", "Application: "+d.Name, opts, r)
	m.Links = false
	m.Status = string(d.State)
	m.Sub, m.SubHref = d.ID, "../"
	v := appView{Meta: m, A: d, Detailed: detailed, Note: note,
		Active: d.State == deploy.AppWaiting || d.State == deploy.AppRunning}
	requested := "Unlimited"
	if d.CoresRequested != nil {
		requested = strconv.Itoa(*d.CoresRequested)
	}
	v.Cores = requested + " (" + strconv.Itoa(d.Cores) + " granted)"
	if d.ExecutorLimit != nil {
		v.Limit = strconv.Itoa(*d.ExecutorLimit) + " (" + strconv.Itoa(len(d.Executors)) + " granted)"
	}
	all := append(append([]deploy.ExecutorSummary(nil), d.Executors...), d.RemovedExecutors...)
	seen := make(map[int]bool, len(all))
	for _, e := range all {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		row := appExecRow{ExecutorSummary: e}
		if ui := strings.TrimRight(e.WorkerWebUI, "/"); ui != "" {
			row.WorkerURL = ui
			q := url.Values{"appId": {d.ID}, "executorId": {strconv.Itoa(e.ID)}}
			row.StdoutURL = ui + "/" + logURL(q, "stdout")
			row.StderrURL = ui + "/" + logURL(q, "stderr")
		}
		if e.State.IsFinished() || e.State == deploy.ExecutorDecommissioned {
			v.Removed = append(v.Removed, row)
		} else {
			v.Executors = append(v.Executors, row)
		}
	}
	byID := func(rows []appExecRow) {
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	}
	byID(v.Executors)
	byID(v.Removed)
	return v
}

// ---- worker page ----

type executorRow struct {
	deploy.ExecutorRunnerJSON
	StdoutURL, StderrURL string
}

type driverRow struct {
	deploy.DriverRunnerJSON
	StdoutURL, StderrURL string
}

type workerView struct {
	Meta                             pageMeta
	S                                deploy.WorkerStateResponse
	Address                          string
	Executors, FinishedExecutors     []executorRow
	Drivers, FinishedDrivers         []driverRow
	CoresPct, MemPct                 int
	ResourcesText, ResourcesUsedText string
}

func logURL(q url.Values, logType string) string {
	q.Set("logType", logType)
	return "logPage/?" + q.Encode()
}

func execRows(es []deploy.ExecutorRunnerJSON) []executorRow {
	out := make([]executorRow, len(es))
	for i, e := range es {
		q := url.Values{"appId": {e.AppID}, "executorId": {strconv.Itoa(e.ID)}}
		out[i] = executorRow{e, logURL(q, "stdout"), logURL(q, "stderr")}
	}
	return out
}

func driverRows(ds []deploy.DriverRunnerJSON) []driverRow {
	out := make([]driverRow, len(ds))
	for i, d := range ds {
		q := url.Values{"driverId": {d.ID}}
		out[i] = driverRow{d, logURL(q, "stdout"), logURL(q, "stderr")}
	}
	return out
}

func newWorkerView(st deploy.WorkerStateResponse, opts Options, r *http.Request) workerView {
	addr := st.ID
	if st.Host != "" {
		addr = st.Host + ":" + strconv.Itoa(st.Port)
	}
	v := workerView{
		Meta:              newMeta("Worker", opts.Title, "Ember Worker at "+addr, opts, r),
		S:                 st,
		Address:           addr,
		Executors:         execRows(st.Executors),
		FinishedExecutors: execRows(st.FinishedExecutors),
		Drivers:           driverRows(st.Drivers),
		FinishedDrivers:   driverRows(st.FinishedDrivers),
		CoresPct:          boundedPct(st.CoresUsed, st.Cores),
		MemPct:            boundedPct(st.MemoryUsed, st.Memory),
		ResourcesText:     resourcesText(st.Resources),
		ResourcesUsedText: resourcesText(st.ResourcesUsed),
	}
	v.Meta.Sub = st.ID
	if st.MasterURL != "" {
		v.Meta.Status = "REGISTERED"
	}
	return v
}

// ---- log page ----

type logView struct {
	Meta                            pageMeta
	What                            string
	Chunk                           logChunk
	StdoutURL, StderrURL, RawURL    string
	EarlierURL, LaterURL, LatestURL string
	LogType                         string
}

func newLogView(lr *logRequest, c logChunk, opts Options) logView {
	base := url.Values{}
	what := ""
	if lr.DriverID != "" {
		base.Set("driverId", lr.DriverID)
		what = "driver " + lr.DriverID
	} else {
		base.Set("appId", lr.AppID)
		base.Set("executorId", lr.ExecutorID)
		what = "executor " + lr.ExecutorID + " of " + lr.AppID
	}
	with := func(logType string, off *int64) string {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set("logType", logType)
		if off != nil {
			q.Set("offset", strconv.FormatInt(*off, 10))
		}
		if lr.ByteLength != DefaultLogBytes {
			q.Set("byteLength", strconv.FormatInt(lr.ByteLength, 10))
		}
		return "?" + q.Encode()
	}
	title := opts.Title
	if title == "" {
		title = lr.LogType + " log for " + what
	}
	v := logView{
		Meta:      pageMeta{Title: title, Kind: "Worker", Sub: c.Path, Rendered: time.Now().Format("2006/01/02 15:04:05"), Warning: opts.Warning},
		What:      what,
		Chunk:     c,
		LogType:   lr.LogType,
		StdoutURL: with("stdout", nil),
		StderrURL: with("stderr", nil),
		LatestURL: with(lr.LogType, nil),
	}
	raw := with(lr.LogType, lr.Offset)
	v.RawURL = "../log" + raw
	if c.Start > 0 {
		off := max(0, c.Start-lr.ByteLength)
		v.EarlierURL = with(lr.LogType, &off)
	}
	if c.End < c.Len {
		off := c.End
		v.LaterURL = with(lr.LogType, &off)
	}
	return v
}

// ---- formatting ----

// megabytes is Spark's Utils.megabytesToString: 1024 MiB stays "1024.0 MiB",
// 2048 becomes "2.0 GiB".
func megabytes(mb int) string {
	b := float64(mb) * mib
	const (
		kib = 1024.0
		gib = mib * 1024.0
		tib = gib * 1024.0
		pib = tib * 1024.0
	)
	switch {
	case b >= 2*pib:
		return fmt.Sprintf("%.1f PiB", b/pib)
	case b >= 2*tib:
		return fmt.Sprintf("%.1f TiB", b/tib)
	case b >= 2*gib:
		return fmt.Sprintf("%.1f GiB", b/gib)
	case b >= 2*mib:
		return fmt.Sprintf("%.1f MiB", b/mib)
	case b >= 2*kib:
		return fmt.Sprintf("%.1f KiB", b/kib)
	}
	return fmt.Sprintf("%.1f B", b)
}

// bytesText is a byte count for the log page.
func bytesText(n int64) string {
	switch {
	case n >= 2*mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n >= 2*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// duration is Spark's UIUtils.formatDuration.
func duration(ms int64) string {
	if ms <= 0 {
		return "—"
	}
	s := float64(ms) / 1000
	if s < 1 {
		return fmt.Sprintf("%d ms", ms)
	}
	if s < 60 {
		return fmt.Sprintf("%.0f s", s)
	}
	m := s / 60
	if m < 10 {
		return fmt.Sprintf("%.1f min", m)
	}
	if m < 60 {
		return fmt.Sprintf("%.0f min", m)
	}
	return fmt.Sprintf("%.1f h", m/60)
}

func msTime(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).Format("2006/01/02 15:04:05")
}

// submitted shows a start time in ms (number or string), else the
// submit date as the source gave it.
func submitted(start any, submitDate string) string {
	var ms int64
	switch s := start.(type) {
	case int64:
		ms = s
	case string:
		ms, _ = strconv.ParseInt(s, 10, 64)
	}
	if t := msTime(ms); t != "" {
		return t
	}
	return submitDate
}

// stateClass picks a badge colour for a state name.
func stateClass(s any) string {
	switch strings.ToUpper(fmt.Sprint(s)) {
	case "ALIVE", "RUNNING", "REGISTERED":
		return "ok"
	case "WAITING", "SUBMITTED", "LAUNCHING", "RELAUNCHING", "RECOVERING", "COMPLETING_RECOVERY", "DECOMMISSIONED":
		return "warn"
	case "DEAD", "FAILED", "KILLED", "LOST", "ERROR":
		return "bad"
	case "FINISHED", "EXITED":
		return "done"
	}
	return "muted"
}

func resourcesText(m map[string]deploy.ResourceInformation) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": [" + strings.Join(m[n].Addresses, ", ") + "]"
	}
	return strings.Join(parts, "; ")
}

func amountsText(a []deploy.ResourceAmount) string {
	parts := make([]string, len(a))
	for i, r := range a {
		parts[i] = r.Name + ": " + strconv.Itoa(r.Amount)
	}
	return strings.Join(parts, ", ")
}

var funcs = template.FuncMap{
	"mem":        megabytes,
	"bytes":      bytesText,
	"dur":        duration,
	"submitted":  submitted,
	"state":      stateClass,
	"resources":  resourcesText,
	"amounts":    amountsText,
	"addresses":  func(r deploy.ResourceInformation) int { return len(r.Addresses) },
	"webui":      func(w deploy.WorkerInfoJSON) bool { return w.State == deploy.WorkerAlive && w.WebUIAddress != "" },
	"hostport":   func(h string, p int) string { return h + ":" + strconv.Itoa(p) },
	"percentage": func(n int) string { return strconv.Itoa(n) + "%" },
	"deref":      func(p *int) int { return *p },
	"kill": func(action, what, id string) map[string]string {
		return map[string]string{"Action": action, "ID": id, "What": what}
	},
	"apps": func(id, what string, apps []deploy.ApplicationInfoJSON, resources, kill bool) map[string]any {
		return map[string]any{"ID": id, "What": what, "Apps": apps, "Resources": resources, "Kill": kill}
	},
	"drivers": func(id, what string, ds []deploy.DriverInfoJSON, resources, kill bool) map[string]any {
		return map[string]any{"ID": id, "What": what, "Drivers": ds, "Resources": resources, "Kill": kill}
	},
	"rows": func(id, what string, rows any) map[string]any {
		return map[string]any{"ID": id, "What": what, "Rows": rows}
	},
}

var pages = template.Must(template.New("webui").Funcs(funcs).Parse(pageTemplates))
