package webui

// pageTemplates are the UI's pages: no external assets, one inline
// stylesheet, and no script but the kill buttons' confirmHandler. Links are relative so the pages also work under a
// reverse-proxy prefix.
const pageTemplates = `
{{define "head"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<style>
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#eef1f4;--bg:#f6f8fa;--card:#fff;--accent:#0969da;
--ok:#1a7f37;--okbg:#dafbe1;--warn:#9a6700;--warnbg:#fff8c5;--bad:#cf222e;--badbg:#ffebe9;--done:#0550ae;--donebg:#ddf4ff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#24292f;color:#fff;padding:14px 28px;display:flex;align-items:center;gap:18px;flex-wrap:wrap}
header.top .brand{font-weight:700;font-size:13px;letter-spacing:.08em;text-transform:uppercase;background:#e8590c;color:#fff;border-radius:4px;padding:3px 8px}
header.top h1{font-size:18px;font-weight:600;margin:0}
header.top .sub{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#c9d1d9}
header.top .sub a{color:#9ecbff}
header.top .right{margin-left:auto;display:flex;gap:14px;align-items:center;font-size:13px}
header.top .right a{color:#c9d1d9}
main{max-width:1440px;margin:0 auto;padding:22px 28px 8px}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;line-height:18px;white-space:nowrap;background:var(--soft);color:var(--muted)}
.badge.ok{background:var(--okbg);color:var(--ok)}.badge.warn{background:var(--warnbg);color:var(--warn)}
.badge.bad{background:var(--badbg);color:var(--bad)}.badge.done{background:var(--donebg);color:var(--done)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin-bottom:8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.card .label{color:var(--muted);font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.06em}
.card .value{font-size:22px;font-weight:600;margin-top:2px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-variant-numeric:tabular-nums}
.card .value small{font-size:13px;font-weight:400;color:var(--muted)}
.card .detail{color:var(--muted);font-size:12px;margin-top:2px}
.card meter{width:100%;height:8px;margin-top:8px}
section{margin-top:26px}
section h2{font-size:15px;font-weight:600;margin:0 0 8px;display:flex;align-items:center;gap:8px}
section h2 .count{background:var(--soft);color:var(--muted);border-radius:999px;padding:0 8px;font-size:12px;font-weight:600}
.tablewrap{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow-x:auto}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-size:11px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;background:#f6f8fa;padding:8px 12px;border-bottom:1px solid var(--line);white-space:nowrap}
td{padding:8px 12px;border-top:1px solid var(--soft);vertical-align:middle}
tbody tr:first-child td{border-top:0}
tbody tr:hover td{background:#f6f8fa}
td.mono,td.nowrap{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.muted{color:var(--muted)}
.empty{padding:14px 12px;color:var(--muted);font-style:italic}
form.kill{display:inline;margin:0}
button.danger{background:var(--bad);color:#fff;border:0;border-radius:5px;padding:2px 10px;font:inherit;font-size:12px;font-weight:600;cursor:pointer}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin-bottom:14px}
.kv dt{color:var(--muted)}.kv dd{margin:0}
.spacer{flex:1}
.toolbar{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin-bottom:10px}
.btn{display:inline-block;border:1px solid var(--line);background:var(--card);border-radius:6px;padding:4px 12px;font-size:13px;color:var(--fg)}
.btn.active{background:var(--fg);color:#fff;border-color:var(--fg)}
.btn.disabled{color:var(--muted);pointer-events:none;opacity:.6}
pre.log{background:#0d1117;color:#e6edf3;border-radius:8px;padding:14px 16px;margin:0;overflow:auto;max-height:75vh;font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.warnbanner{background:#fff4e5;border-bottom:2px solid #e8590c;color:#7c2d12;padding:10px 28px;font-size:14px}
footer{max-width:1440px;margin:0 auto;padding:18px 28px 28px;color:var(--muted);font-size:12px}
</style>
</head>
<body>
<header class="top">
<span class="brand">Ember {{.Kind}}</span>
<div><h1>{{.Title}}</h1>{{if .Sub}}<div class="sub">{{if .SubHref}}<a href="{{.SubHref}}">{{.Sub}}</a>{{else}}{{.Sub}}{{end}}</div>{{end}}</div>
<div class="right">{{if .Status}}<span class="badge {{state .Status}}" id="status">{{.Status}}</span>{{end}}</div>
</header>
{{if .Warning}}<div class="warnbanner" id="security-warning" role="alert">{{.Warning}}</div>{{end}}
<main>
{{end}}

{{define "foot"}}
</main>
<footer>Rendered {{.Rendered}}{{if .Refresh}} · refreshes every {{.Refresh}} s{{end}}{{if .Links}} · <a href="json">JSON</a> · <a href="metrics/prometheus">metrics</a> · <a href="?refresh=10">auto-refresh</a>{{end}}</footer>
</body>
</html>
{{end}}

{{define "killform"}}<form class="kill" method="post" action="{{.Action}}"><input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="terminate" value="true"><button class="danger" type="submit" title="Kill {{.What}} {{.ID}}" data-confirm="Are you sure you want to kill {{.What}} {{.ID}}?" onclick="return confirm(this.dataset.confirm)">kill</button></form>{{end}}

{{define "apps"}}
<div class="tablewrap">{{if .Apps}}
<table id="{{.ID}}">
<thead><tr><th>Application ID</th><th>Name</th><th class="num">Cores</th><th class="num">Memory per Executor</th>{{if .Resources}}<th>Resources per Executor</th>{{end}}<th>Submitted Time</th><th>User</th><th>State</th><th class="num">Duration</th>{{if .Kill}}<th></th>{{end}}</tr></thead>
<tbody>
{{range .Apps}}<tr>
<td class="mono"><a href="app/?appId={{.ID}}">{{.ID}}</a></td>
<td>{{.Name}}</td>
<td class="num">{{.Cores}}</td>
<td class="num">{{mem .MemoryPerExecutor}}</td>
{{if $.Resources}}<td>{{amounts .ResourcesPerExecutor}}</td>{{end}}
<td class="nowrap">{{submitted .StartTime .SubmitDate}}</td>
<td>{{.User}}</td>
<td><span class="badge {{state .State}}">{{.State}}</span></td>
<td class="num">{{dur .Duration}}</td>
{{if $.Kill}}<td>{{template "killform" (kill "app/kill" "application" .ID)}}</td>{{end}}
</tr>
{{end}}</tbody>
</table>{{else}}<div class="empty">No {{.What}} applications.</div>{{end}}
</div>
{{end}}

{{define "drivers"}}
<div class="tablewrap">{{if .Drivers}}
<table id="{{.ID}}">
<thead><tr><th>Submission ID</th><th>Submitted Time</th><th>Worker</th><th>State</th><th class="num">Cores</th><th class="num">Memory</th>{{if .Resources}}<th>Resources</th>{{end}}<th>Main Class</th>{{if .Kill}}<th></th>{{end}}</tr></thead>
<tbody>
{{range .Drivers}}<tr>
<td class="mono">{{.ID}}</td>
<td class="nowrap">{{submitted .StartTime .SubmitDate}}</td>
<td class="mono">{{.Worker}}</td>
<td><span class="badge {{state .State}}">{{.State}}</span></td>
<td class="num">{{.Cores}}</td>
<td class="num">{{mem .Memory}}</td>
{{if $.Resources}}<td>{{resources .Resources}}</td>{{end}}
<td class="mono">{{.MainClass}}</td>
{{if $.Kill}}<td>{{template "killform" (kill "driver/kill" "driver" .ID)}}</td>{{end}}
</tr>
{{end}}</tbody>
</table>{{else}}<div class="empty">No {{.What}} drivers.</div>{{end}}
</div>
{{end}}

{{define "master"}}{{template "head" .Meta}}
<div class="cards" id="summary">
<div class="card"><div class="label">Workers</div><div class="value" id="alive-workers">{{.Alive}} <small>alive</small></div>
<div class="detail">{{.Dead}} dead{{if .Decommissioned}} · {{.Decommissioned}} decommissioned{{end}}{{if .OtherWorkers}} · {{.OtherWorkers}} unknown{{end}}</div></div>
<div class="card"><div class="label">Cores in use</div><div class="value">{{.S.CoresUsed}} <small>of {{.S.Cores}}</small></div>
<meter min="0" max="100" low="70" high="90" optimum="0" value="{{.CoresPct}}" title="{{percentage .CoresPct}}">{{percentage .CoresPct}}</meter></div>
<div class="card"><div class="label">Memory in use</div><div class="value">{{mem .S.MemoryUsed}} <small>of {{mem .S.Memory}}</small></div>
<meter min="0" max="100" low="70" high="90" optimum="0" value="{{.MemPct}}" title="{{percentage .MemPct}}">{{percentage .MemPct}}</meter></div>
{{range .Resources}}<div class="card"><div class="label">{{.Name}} in use</div><div class="value">{{.Used}} <small>of {{.Total}}</small></div></div>
{{end}}<div class="card"><div class="label">Applications</div><div class="value">{{len .S.ActiveApps}} <small>running</small></div>
<div class="detail">{{if .WaitingApps}}{{.WaitingApps}} waiting · {{end}}{{len .S.CompletedApps}} completed</div></div>
<div class="card"><div class="label">Drivers</div><div class="value">{{len .S.ActiveDrivers}} <small>running</small></div>
<div class="detail">{{len .S.CompletedDrivers}} completed</div></div>
</div>

<section><h2>Workers <span class="count">{{len .Workers}}</span></h2>
<div class="tablewrap">{{if .Workers}}
<table id="workers">
<thead><tr><th>Worker ID</th><th>Address</th><th>State</th><th class="num">Cores</th><th class="num">Memory</th>{{if .WorkerResources}}<th>Resources</th>{{end}}</tr></thead>
<tbody>
{{range .Workers}}<tr>
<td class="mono">{{if webui .}}<a href="{{.WebUIAddress}}">{{.ID}}</a>{{else}}{{.ID}}{{end}}</td>
<td class="mono">{{hostport .Host .Port}}</td>
<td><span class="badge {{state .State}}">{{.State}}</span></td>
<td class="num">{{.Cores}} <span class="muted">({{.CoresUsed}} used)</span></td>
<td class="num">{{mem .Memory}} <span class="muted">({{mem .MemoryUsed}} used)</span></td>
{{if $.WorkerResources}}<td>{{resources .Resources}}</td>{{end}}
</tr>
{{end}}</tbody>
</table>{{else}}<div class="empty">No workers have registered.</div>{{end}}
</div></section>

<section><h2>Running Applications <span class="count">{{len .ActiveApps}}</span></h2>
{{template "apps" (apps "running-apps" "running" .ActiveApps .AppResources .KillEnabled)}}</section>

<section><h2>Running Drivers <span class="count">{{len .ActiveDrivers}}</span></h2>
{{template "drivers" (drivers "running-drivers" "running" .ActiveDrivers .DriverResources .KillEnabled)}}</section>

<section><h2>Completed Applications <span class="count">{{len .CompletedApps}}</span></h2>
{{template "apps" (apps "completed-apps" "completed" .CompletedApps .AppResources false)}}</section>

<section><h2>Completed Drivers <span class="count">{{len .CompletedDrivers}}</span></h2>
{{template "drivers" (drivers "completed-drivers" "completed" .CompletedDrivers .DriverResources false)}}</section>
{{template "foot" .Meta}}{{end}}

{{define "app"}}{{template "head" .Meta}}
<p class="toolbar"><a class="btn" href="../">&larr; Master</a></p>
<dl class="kv" id="app-summary">
<dt>ID</dt><dd class="mono" id="app-id">{{.A.ID}}</dd>
<dt>Name</dt><dd id="app-name">{{.A.Name}}</dd>
<dt>User</dt><dd id="app-user">{{.A.User}}</dd>
<dt>Cores</dt><dd id="app-cores">{{.Cores}}</dd>
{{if .A.CoresPerExecutor}}<dt>Cores per Executor</dt><dd>{{deref .A.CoresPerExecutor}}</dd>{{end}}
{{if .Limit}}<dt>Executor Limit</dt><dd id="app-limit">{{.Limit}}</dd>{{end}}
<dt>Executor Memory</dt><dd id="app-memory">{{mem .A.MemoryPerExecutor}}</dd>
{{if .A.ResourcesPerExecutor}}<dt>Executor Resources</dt><dd>{{amounts .A.ResourcesPerExecutor}}</dd>{{end}}
<dt>Submit Date</dt><dd id="app-submitted">{{submitted .A.StartTime .A.SubmitDate}}</dd>
<dt>State</dt><dd><span class="badge {{state .A.State}}" id="app-state">{{.A.State}}</span></dd>
<dt>Duration</dt><dd id="app-duration">{{dur .A.Duration}}</dd>
{{if .A.AppUIURL}}<dt>Driver</dt><dd class="mono">{{if .Active}}<a href="{{.A.AppUIURL}}" id="app-driver">Application Detail UI</a>{{else}}<span class="muted">{{.A.AppUIURL}} (ended)</span>{{end}}</dd>{{end}}
</dl>
{{if .Detailed}}
<section><h2>Executor Summary <span class="count">{{len .Executors}}</span></h2>
{{template "appexecutors" (rows "executors" "live" .Executors)}}</section>
<section><h2>Removed Executors <span class="count">{{len .Removed}}</span></h2>
{{template "appexecutors" (rows "removed-executors" "removed" .Removed)}}</section>
{{else}}<div class="tablewrap"><div class="empty" id="app-note">{{.Note}}</div></div>{{end}}
{{template "foot" .Meta}}{{end}}

{{define "appexecutors"}}
<div class="tablewrap">{{if .Rows}}
<table id="{{.ID}}">
<thead><tr><th class="num">Executor ID</th><th>Worker</th><th class="num">Cores</th><th class="num">Memory</th><th>State</th><th>Logs</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td class="num mono">{{.ID}}</td>
<td class="mono">{{if .WorkerURL}}<a href="{{.WorkerURL}}">{{.WorkerID}}</a>{{else}}{{.WorkerID}}{{end}}</td>
<td class="num">{{.Cores}}</td>
<td class="num">{{mem .Memory}}</td>
<td><span class="badge {{state .State}}">{{.State}}</span></td>
<td>{{if .StdoutURL}}<a href="{{.StdoutURL}}">stdout</a> · <a href="{{.StderrURL}}">stderr</a>{{else}}<span class="muted">no worker UI</span>{{end}}</td>
</tr>
{{end}}</tbody>
</table>{{else}}<div class="empty">No {{.What}} executors.</div>{{end}}
</div>
{{end}}

{{define "executors"}}
<div class="tablewrap">{{if .Rows}}
<table id="{{.ID}}">
<thead><tr><th class="num">Executor ID</th><th>Application ID</th><th>Name</th><th>User</th><th class="num">Cores</th><th class="num">Memory</th><th>Resources</th><th>State</th><th>Logs</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td class="num mono">{{.ID}}</td>
<td class="mono">{{.AppID}}</td>
<td>{{.AppDesc.Name}}</td>
<td>{{.AppDesc.User}}</td>
<td class="num">{{.Cores}}</td>
<td class="num">{{mem .Memory}}</td>
<td>{{resources .Resources}}</td>
<td>{{if .State}}<span class="badge {{state .State}}">{{.State}}</span>{{end}}</td>
<td><a href="{{.StdoutURL}}">stdout</a> · <a href="{{.StderrURL}}">stderr</a></td>
</tr>
{{end}}</tbody>
</table>{{else}}<div class="empty">No {{.What}} executors.</div>{{end}}
</div>
{{end}}

{{define "wdrivers"}}
<div class="tablewrap">{{if .Rows}}
<table id="{{.ID}}">
<thead><tr><th>Driver ID</th><th>Main Class</th><th>State</th><th class="num">Cores</th><th class="num">Memory</th><th>Logs</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td class="mono">{{.ID}}</td>
<td class="mono">{{.MainClass}}</td>
<td><span class="badge {{state .State}}">{{.State}}</span></td>
<td class="num">{{.Cores}}</td>
<td class="num">{{mem .Memory}}</td>
<td><a href="{{.StdoutURL}}">stdout</a> · <a href="{{.StderrURL}}">stderr</a></td>
</tr>
{{end}}</tbody>
</table>{{else}}<div class="empty">No {{.What}} drivers.</div>{{end}}
</div>
{{end}}

{{define "worker"}}{{template "head" .Meta}}
<dl class="kv">
<dt>Worker ID</dt><dd class="mono" id="worker-id">{{.S.ID}}</dd>
<dt>Address</dt><dd class="mono">{{.Address}}</dd>
<dt>Master URL</dt><dd class="mono">{{if .S.MasterURL}}{{if .S.MasterWebUIURL}}<a href="{{.S.MasterWebUIURL}}" id="master-link">{{.S.MasterURL}}</a>{{else}}{{.S.MasterURL}}{{end}}{{else}}<span class="muted">not registered</span>{{end}}</dd>
{{if .ResourcesText}}<dt>Resources</dt><dd>{{.ResourcesText}}{{if .ResourcesUsedText}} <span class="muted">(used: {{.ResourcesUsedText}})</span>{{end}}</dd>{{end}}
</dl>
<div class="cards" id="summary">
<div class="card"><div class="label">Cores in use</div><div class="value">{{.S.CoresUsed}} <small>of {{.S.Cores}}</small></div>
<meter min="0" max="100" low="70" high="90" optimum="0" value="{{.CoresPct}}" title="{{percentage .CoresPct}}">{{percentage .CoresPct}}</meter></div>
<div class="card"><div class="label">Memory in use</div><div class="value">{{mem .S.MemoryUsed}} <small>of {{mem .S.Memory}}</small></div>
<meter min="0" max="100" low="70" high="90" optimum="0" value="{{.MemPct}}" title="{{percentage .MemPct}}">{{percentage .MemPct}}</meter></div>
<div class="card"><div class="label">Executors</div><div class="value">{{len .Executors}} <small>running</small></div><div class="detail">{{len .FinishedExecutors}} finished</div></div>
<div class="card"><div class="label">Drivers</div><div class="value">{{len .Drivers}} <small>running</small></div><div class="detail">{{len .FinishedDrivers}} finished</div></div>
</div>

<section><h2>Running Executors <span class="count">{{len .Executors}}</span></h2>
{{template "executors" (rows "running-executors" "running" .Executors)}}</section>
<section><h2>Running Drivers <span class="count">{{len .Drivers}}</span></h2>
{{template "wdrivers" (rows "running-drivers" "running" .Drivers)}}</section>
<section><h2>Finished Executors <span class="count">{{len .FinishedExecutors}}</span></h2>
{{template "executors" (rows "finished-executors" "finished" .FinishedExecutors)}}</section>
<section><h2>Finished Drivers <span class="count">{{len .FinishedDrivers}}</span></h2>
{{template "wdrivers" (rows "finished-drivers" "finished" .FinishedDrivers)}}</section>
{{template "foot" .Meta}}{{end}}

{{define "log"}}{{template "head" .Meta}}
<div class="toolbar">
<a class="btn" href="../">&larr; Worker</a>
<a class="btn{{if eq .LogType "stdout"}} active{{end}}" href="{{.StdoutURL}}">stdout</a>
<a class="btn{{if eq .LogType "stderr"}} active{{end}}" href="{{.StderrURL}}">stderr</a>
<span class="muted" id="log-range">Showing bytes {{.Chunk.Start}}–{{.Chunk.End}} of {{.Chunk.Len}} ({{bytes .Chunk.Len}})</span>
<span class="spacer"></span>
{{if .EarlierURL}}<a class="btn" href="{{.EarlierURL}}">&laquo; Earlier</a>{{else}}<span class="btn disabled">&laquo; Earlier</span>{{end}}
{{if .LaterURL}}<a class="btn" href="{{.LaterURL}}">Later &raquo;</a>{{else}}<span class="btn disabled">Later &raquo;</span>{{end}}
<a class="btn" href="{{.LatestURL}}">Latest</a>
<a class="btn" href="{{.RawURL}}">Raw</a>
</div>
{{if .Chunk.Len}}<pre class="log" id="log">{{.Chunk.Text}}</pre>{{else}}<div class="tablewrap"><div class="empty">The {{.LogType}} log of {{.What}} is empty or does not exist yet.</div></div>{{end}}
{{template "foot" .Meta}}{{end}}

{{define "error"}}{{template "head" .Meta}}
<div class="tablewrap"><div class="empty" id="error"><strong>{{.Code}}</strong> — {{.Message}}</div></div>
<p><a class="btn" href="/">&larr; Back</a></p>
{{template "foot" .Meta}}{{end}}
`
