// Package launcher is Ember's version of Spark's launcher channel: the
// LauncherServer that runs in the process that starts applications, the
// per-application Handle (SparkAppHandle), the Backend (LauncherBackend)
// that runs inside the application and reports back, and Launcher, which
// starts a child process and watches it (SparkLauncher.startApplication).
//
// The wire format is Ember's own: every message is a frame of a 4-byte
// big-endian length followed by a JSON object {"type": "...", ...}; frames
// over [MaxFrameSize] and unknown types close the connection. The
// rendezvous is Spark's: the server listens on 127.0.0.1 on an ephemeral
// port, each handle gets a random secret, the child learns port and secret
// from the environment (_SPARK_LAUNCHER_PORT / _SPARK_LAUNCHER_SECRET) or,
// in-process, from spark.launcher.port / spark.launcher.secret, and its
// first message must be Hello{secret, version} within
// spark.launcher.childConnectionTimeout (default 10000 ms).
//
// See /work/shared/spec/LAUNCHER.md for the behaviour followed here.
package launcher
