// Package app is a small task runtime on the standalone cluster: a Driver
// registers an application with the masters (through deploy/client), the
// workers start its executors — the same program, run as
// "<program> executor --driver-url ... --executor-id ..." — and the
// executors run tasks the driver places on their cores. It is not a DAG
// scheduler: RunTasks runs one stage of independent tasks, each a kind
// (looked up in the executor's registry, see RegisterTask) and an input,
// retrying tasks whose executor is lost or that fail.
//
// A program built on app serves both roles:
//
//	func main() {
//		if len(os.Args) > 1 && os.Args[1] == "executor" {
//			args, err := app.ParseExecutorArgs(os.Args[2:])
//			...
//			err = app.RunExecutor(args)
//			...
//		}
//		d, err := app.NewDriver(app.DriverConfig{Master: "spark://h:7077"})
//		...
//	}
package app

import "github.com/ember-rpc/ember/rpcenv"

// Endpoint names.
const (
	SchedulerEndpoint = "CoarseGrainedScheduler"
	ExecutorEndpoint  = "Executor"
)

// RegisterExecutor is asked by an executor of the driver when it starts;
// the driver replies true (false for a duplicate id).
type RegisterExecutor struct {
	ID       string      `json:"id"`
	Host     string      `json:"host"`
	Cores    int         `json:"cores"`
	Executor *rpcenv.Ref `json:"executor"`
}

// LaunchTask asks an executor to run one attempt of a task.
type LaunchTask struct {
	TaskID  int64  `json:"taskId"` // unique per launch
	Index   int    `json:"index"`  // the task's index in its stage
	Attempt int    `json:"attempt"`
	Kind    string `json:"kind"`
	Input   []byte `json:"input"`
}

// Task states in StatusUpdate.
const (
	TaskFinished = "FINISHED"
	TaskFailed   = "FAILED"
)

// StatusUpdate reports a task's end to the driver.
type StatusUpdate struct {
	ExecutorID string `json:"executorId"`
	TaskID     int64  `json:"taskId"`
	State      string `json:"state"`
	Output     []byte `json:"output,omitempty"`
	Error      string `json:"error,omitempty"`
	// Permanent: retrying cannot help (the task returned a Permanent
	// error); the driver fails the stage at once.
	Permanent bool `json:"permanent,omitempty"`
}

// StopExecutor tells an executor to exit.
type StopExecutor struct{}

// Heartbeat is sent by an executor to the driver every
// spark.executor.heartbeatInterval; an executor silent for
// spark.network.timeout is lost.
type Heartbeat struct {
	ExecutorID string `json:"executorId"`
}

func init() {
	rpcenv.MustRegister[RegisterExecutor]("app.RegisterExecutor")
	rpcenv.MustRegister[LaunchTask]("app.LaunchTask")
	rpcenv.MustRegister[StatusUpdate]("app.StatusUpdate")
	rpcenv.MustRegister[StopExecutor]("app.StopExecutor")
	rpcenv.MustRegister[Heartbeat]("app.Heartbeat")
}
