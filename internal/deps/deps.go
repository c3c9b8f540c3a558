//go:build tools

// Package deps pins the modules Ember builds on, so `go mod tidy` keeps them
// while the packages that use them are being written.
package deps

import (
	_ "github.com/bytedance/sonic"
	_ "github.com/cloudwego/netpoll"
	_ "github.com/valyala/bytebufferpool"
	_ "go.uber.org/atomic"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sys/unix"
)

// The shuffle service's registration store and the protocol's bitmaps.
import (
	_ "github.com/RoaringBitmap/roaring"
	_ "go.etcd.io/bbolt"
)

// ZooKeeper recovery, Prometheus metrics, browser tests of the web UI.
import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/go-zookeeper/zk"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
)
