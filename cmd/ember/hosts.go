package main

import (
	"net"
	"os"
	"strconv"
)

// defaultHost is the host a daemon binds and advertises when none is
// given, as Spark's Utils.localHostName: SPARK_LOCAL_HOSTNAME, else
// SPARK_LOCAL_IP, else the machine's hostname (127.0.0.1 if it has none).
func defaultHost() string {
	if h := os.Getenv("SPARK_LOCAL_HOSTNAME"); h != "" {
		return h
	}
	if ip := os.Getenv("SPARK_LOCAL_IP"); ip != "" {
		return ip
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "127.0.0.1"
}

// uiBindHost is the address a daemon's web UI binds: SPARK_LOCAL_IP when
// set (as Spark's WebUI), else the daemon's host.
func uiBindHost(daemonHost string) string {
	if ip := os.Getenv("SPARK_LOCAL_IP"); ip != "" {
		return ip
	}
	return daemonHost
}

// publicUIURL is the web UI address a daemon advertises (to the master,
// in logs, in its output): http://$SPARK_PUBLIC_DNS:port when that is
// set, else the UI's own URL.
func publicUIURL(ownURL string, port int) string {
	if dns := os.Getenv("SPARK_PUBLIC_DNS"); dns != "" {
		return "http://" + net.JoinHostPort(dns, strconv.Itoa(port))
	}
	return ownURL
}
