package master

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/ember-rpc/ember/deploy"
)

// ApplicationDetail is one application (active or completed) with its
// executors, for the web UI's application page; ok is false when the
// master knows no such app. Loop-only.
func (s *State) ApplicationDetail(id string) (deploy.ApplicationDetail, bool) {
	a := s.idToApp[id]
	if a == nil {
		for _, c := range s.completedApps {
			if c.ID == id {
				a = c
				break
			}
		}
	}
	if a == nil {
		return deploy.ApplicationDetail{}, false
	}
	d := deploy.ApplicationDetail{ApplicationInfoJSON: appJSON(a, s.fx.Now())}
	if a.Desc.MaxCores != nil {
		d.CoresRequested = ptr(*a.Desc.MaxCores)
	}
	if a.Desc.CoresPerExecutor != nil {
		d.CoresPerExecutor = ptr(*a.Desc.CoresPerExecutor)
	}
	if a.ExecutorLimit != math.MaxInt32 {
		d.ExecutorLimit = ptr(a.ExecutorLimit)
	}
	d.AppUIURL = a.Desc.AppUIURL
	d.Executors = []deploy.ExecutorSummary{}
	for _, eid := range sortedIntKeys(a.Executors) {
		d.Executors = append(d.Executors, executorSummary(a.Executors[eid]))
	}
	d.RemovedExecutors = []deploy.ExecutorSummary{}
	for _, e := range a.removedExecutor {
		d.RemovedExecutors = append(d.RemovedExecutors, executorSummary(e))
	}
	sort.SliceStable(d.RemovedExecutors, func(i, j int) bool { return d.RemovedExecutors[i].ID < d.RemovedExecutors[j].ID })
	return d, true
}

func executorSummary(e *ExecutorInfo) deploy.ExecutorSummary {
	x := deploy.ExecutorSummary{ID: e.ID, Cores: e.Cores, Memory: e.MemoryMB, State: e.State}
	if w := e.Worker; w != nil {
		x.WorkerID, x.WorkerHost, x.WorkerPort, x.WorkerWebUI = w.ID, w.Host, w.Port, w.WebUIAddress
	}
	return x
}

// errNoApplication is ApplicationDetail's error for an app the master
// does not know (the UI answers 404 when its state lacks the app too).
var errNoApplication = errors.New("master: no such application")

// ApplicationDetail asks the endpoint for one application with its
// executors (the web UI's application page).
func (m *Master) ApplicationDetail(id string) (deploy.ApplicationDetail, error) {
	type answer struct {
		d  deploy.ApplicationDetail
		ok bool
	}
	v, err := m.self.AskTimeout(stateCall{fn: func(s *State) any {
		d, ok := s.ApplicationDetail(id)
		return answer{d, ok}
	}}, 30*time.Second)
	if err != nil {
		return deploy.ApplicationDetail{}, err
	}
	a := v.(answer)
	if !a.ok {
		return deploy.ApplicationDetail{}, fmt.Errorf("%w: %q", errNoApplication, id)
	}
	return a.d, nil
}
