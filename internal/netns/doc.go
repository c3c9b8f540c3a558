// Package netns builds a small network of real hosts on one Linux machine,
// for fault-injection tests: each host is a network namespace with its own
// loopback, its own port space and one interface, eth0, plugged into a
// private bridge. Processes started on a host see only that network.
//
// # Model
//
// New(t, Options{Hosts: n}) creates n hosts on a /24 of its own,
// 10.213.K.0/24 (K chosen under a machine-wide lock so that parallel test
// processes never share one): host i is 10.213.K.(i+1), and the bridge
// itself is 10.213.K.254, which makes the test process a machine on the same
// network (it can dial the hosts, read their web UIs, ask their endpoints).
// The hosts have no route anywhere else.
//
// A host's link is a veth pair (eth0 in the namespace, its peer on the
// bridge), or, for the hosts listed in Options.Impairable, a pair of TAP
// devices with a userspace wire between them that the test process runs
// (see Impairment): every frame the host sends or receives crosses the wire,
// which may delay it (fixed delay plus jitter, in order), drop it at random,
// or hold it to a bit rate. This stands in for netem, which the kernels we
// run on do not have (sch_netem is not built; see RELIABILITY.md).
//
//	n := netns.New(t, netns.Options{Hosts: 3, Impairable: []int{2}})
//	srv, err := n.Host(1).Start("server", []string{bin, "serve", "--host", n.Host(1).IP})
//	...
//	n.Host(1).Cut()   // bridge side of its link down: nothing in or out
//	n.Host(1).Heal()  // up again
//	n.Host(2).Impair(netns.Impairment{Delay: 50 * time.Millisecond, Loss: 0.02})
//	srv.Kill9()
//
// Cut and Heal set the bridge-side end of the host's link down and up: the
// host keeps its address and its sockets, as when a cable is pulled, and
// TCP connections that outlive the cut resume by retransmission.
//
// # Processes
//
// Host.Start runs `ip netns exec <ns> argv...` in a process group of its
// own, with the kernel set to kill it should the test process die, its
// stdout and stderr going to one log file (Proc.LogPath) for diagnosis;
// Proc.Kill9 kills the group. Processes it starts (executors of a worker,
// say) stay in the namespace; the teardown kills everything in every
// namespace of the net.
//
// # Teardown
//
// New registers Close with t.Cleanup, so the net goes when the test ends,
// also when it fails or panics: every process in its namespaces is killed
// and reaped, the wires stopped, the links, the bridge and the namespaces
// deleted, and Close checks that none of them is left. Names carry the
// creating process's pid (namespaces emb-<pid>-<seq>-h<i>, links
// emb<pid base 36>n<seq base 36>…, at most 15 bytes); New first removes what
// a dead process left behind (a test binary killed by -timeout runs no
// cleanup).
//
// Available reports whether namespaces can be made here (root, iproute2, a
// kernel that allows it); Require skips a test when they cannot, or fails
// it when EMBER_REQUIRE_NETNS=1. scripts/netns.sh installs iproute2 and
// checks.
//
// # Concurrency
//
// Net, Host and Proc are safe for concurrent use: a chaos goroutine may
// kill, restart, cut and heal while others observe. Methods that return
// errors never call t.Fatal, so they may run off the test's goroutine.
package netns
