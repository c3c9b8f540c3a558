package shuffle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/ember-rpc/ember/codec"
	"github.com/ember-rpc/ember/netpoll"
	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Conf holds spark.* keys: spark.shuffle.io.* (maxRetries, retryWait,
	// connectionTimeout, ...), spark.shuffle.useOldFetchProtocol,
	// spark.shuffle.registration.{timeout,maxAttempts},
	// spark.reducer.{maxSizeInFlight,maxReqsInFlight,maxBlocksInFlightPerAddress},
	// spark.network.maxRemoteBlockSizeFetchToMem.
	Conf *sparkconf.Conf
	// AppID is the application the client fetches for.
	AppID string
	// TmpDir receives blocks fetched to disk (default os.TempDir()).
	TmpDir string
	// Logger (nil: slog.Default()).
	Logger     *slog.Logger
	Bootstraps []netpoll.ClientBootstrap
}

// Client talks to shuffle services (Spark's ExternalBlockStoreClient with
// its OneForOneBlockFetcher and RetryingBlockTransferor).
type Client struct {
	appID   string
	log     *slog.Logger
	ctx     *netpoll.Context
	factory *netpoll.ClientFactory
	tmpDir  string

	maxRetries       int
	retryWait        time.Duration
	useOld           bool
	regTimeout       time.Duration
	connTimeout      time.Duration
	regAttempts      int
	maxInFlight      int64
	maxReqs          int
	maxBlocksPerAddr int
	toMemLimit       int64

	mu      sync.Mutex // guards closed
	closed  bool
	stop    chan struct{}
	retries sync.WaitGroup // retry goroutines
}

// confAndLogger returns conf and log, or for nil an empty conf and
// slog.Default().
func confAndLogger(conf *sparkconf.Conf, log *slog.Logger) (*sparkconf.Conf, *slog.Logger) {
	if conf == nil {
		conf = sparkconf.New()
	}
	if log == nil {
		log = slog.Default()
	}
	return conf, log
}

// NewClient makes a client. Its connections close when idle (Spark's
// shuffle client context does that too).
func NewClient(cfg ClientConfig) (*Client, error) {
	conf, log := confAndLogger(cfg.Conf, cfg.Logger)
	tconf, err := netpoll.NewConf("shuffle", conf, "")
	if err != nil {
		return nil, err
	}
	c := &Client{appID: cfg.AppID, log: log.With("component", "shuffle-client"), tmpDir: cfg.TmpDir,
		maxRetries: tconf.MaxRetries, retryWait: tconf.RetryWait, connTimeout: tconf.ConnectionTimeout,
		stop: make(chan struct{})}
	var errs []error
	get := func(err error) { errs = append(errs, err) }
	var e error
	c.useOld, e = conf.GetBool("spark.shuffle.useOldFetchProtocol", false)
	get(e)
	c.regTimeout, e = conf.GetDuration("spark.shuffle.registration.timeout", 5*time.Second, time.Millisecond)
	get(e)
	c.regAttempts, e = conf.GetInt("spark.shuffle.registration.maxAttempts", 3)
	get(e)
	c.maxInFlight, e = conf.GetBytes("spark.reducer.maxSizeInFlight", 48<<20, 1<<20)
	get(e)
	c.maxReqs, e = conf.GetInt("spark.reducer.maxReqsInFlight", math.MaxInt32)
	get(e)
	c.maxBlocksPerAddr, e = conf.GetInt("spark.reducer.maxBlocksInFlightPerAddress", math.MaxInt32)
	get(e)
	c.toMemLimit, e = conf.GetBytes("spark.network.maxRemoteBlockSizeFetchToMem", 200<<20, 1)
	get(e)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.tmpDir == "" {
		c.tmpDir = os.TempDir()
	}
	// Shuffle connections authenticate as the application itself: the
	// service checks each message's app id against it.
	appID := cfg.AppID
	if appID == "" {
		appID = auth.SaslUser
	}
	sec, err := auth.Configure(conf, "shuffle", appID, c.log)
	if err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	if cfg.Bootstraps == nil {
		cfg.Bootstraps = sec.Client
	}
	opts := append(sec.ContextOptions(), netpoll.WithCloseIdleConnections(true), netpoll.WithLogger(c.log))
	c.ctx = netpoll.NewContext(tconf, noServe{}, opts...)
	c.factory = c.ctx.NewClientFactory(cfg.Bootstraps...)
	return c, nil
}

// noServe refuses requests arriving on fetch connections.
type noServe struct{}

func (noServe) Receive(_ *netpoll.Client, _ []byte, r *netpoll.Responder) {
	r.Fail(errors.New("shuffle: a fetch client serves no requests"))
}
func (noServe) ReceiveOneWay(*netpoll.Client, []byte) {}
func (noServe) StreamManager() netpoll.StreamManager  { return nil }

// Close stops retries and closes connections.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	c.mu.Unlock()
	c.retries.Wait()
	c.factory.Close()
	return c.ctx.Close()
}

func (c *Client) rpc(host string, port int, m Message, timeout time.Duration) ([]byte, error) {
	cl, err := c.factory.CreateClient(host, port)
	if err != nil {
		return nil, err
	}
	return cl.SendRpcSync(Encode(m), timeout)
}

// RegisterWithShuffleServer registers an executor's shuffle dirs, trying
// spark.shuffle.registration.maxAttempts times with
// spark.shuffle.registration.timeout each.
func (c *Client) RegisterWithShuffleServer(host string, port int, execID string, info ExecutorShuffleInfo) error {
	var last error
	for attempt := 1; attempt <= max(1, c.regAttempts); attempt++ {
		_, err := c.rpc(host, port, &RegisterExecutor{AppID: c.appID, ExecID: execID, Info: info}, c.regTimeout)
		if err == nil {
			return nil
		}
		last = err
		c.log.Warn("registering with the shuffle service failed", "attempt", attempt, "err", err)
		if attempt < c.regAttempts {
			select {
			case <-time.After(time.Second):
			case <-c.stop:
				return errors.New("shuffle: client closed")
			}
		}
	}
	return fmt.Errorf("shuffle: unable to register with external shuffle server %s:%d: %w", host, port, last)
}

// RemoveBlocks deletes RDD blocks of an executor; it returns how many.
func (c *Client) RemoveBlocks(host string, port int, execID string, blockIDs []string) (int32, error) {
	resp, err := c.rpc(host, port, &RemoveBlocks{AppID: c.appID, ExecID: execID, BlockIDs: blockIDs}, c.regTimeout)
	if err != nil {
		return 0, err
	}
	m, err := Decode(resp)
	if err != nil {
		return 0, err
	}
	br, ok := m.(*BlocksRemoved)
	if !ok {
		return 0, fmt.Errorf("shuffle: expected BlocksRemoved, got %T", m)
	}
	return br.NumRemovedBlocks, nil
}

// GetHostLocalDirs asks for executors' local dirs.
func (c *Client) GetHostLocalDirs(host string, port int, execIDs []string) (map[string][]string, error) {
	resp, err := c.rpc(host, port, &GetLocalDirsForExecutors{AppID: c.appID, ExecIDs: execIDs}, c.regTimeout)
	if err != nil {
		return nil, err
	}
	m, err := Decode(resp)
	if err != nil {
		return nil, err
	}
	ld, ok := m.(*LocalDirsForExecutors)
	if !ok || len(ld.ExecIDs) != len(ld.NumLocalDirsByExec) {
		return nil, fmt.Errorf("shuffle: bad LocalDirsForExecutors reply %T", m)
	}
	out := map[string][]string{}
	k := 0
	for i, id := range ld.ExecIDs {
		n := int(ld.NumLocalDirsByExec[i])
		if n < 0 || k+n > len(ld.AllLocalDirs) {
			return nil, errors.New("shuffle: bad LocalDirsForExecutors reply")
		}
		out[id] = ld.AllLocalDirs[k : k+n]
		k += n
	}
	return out, nil
}

// DiagnoseCorruption asks the service why block shuffle_<shuffleID>_<mapID>_<reduceID>
// of execID failed its checksum: checksum is the reader's value under
// algorithm (ADLER32, CRC32 or CRC32C, as Spark names them). As Spark's
// client does, it answers CauseUnknownIssue when the request fails, and
// returns the failure too.
func (c *Client) DiagnoseCorruption(host string, port int, execID string, shuffleID int32, mapID int64, reduceID int32, checksum int64, algorithm string) (Cause, error) {
	resp, err := c.rpc(host, port, &DiagnoseCorruption{AppID: c.appID, ExecID: execID, ShuffleID: shuffleID,
		MapID: mapID, ReduceID: reduceID, Checksum: checksum, Algorithm: algorithm}, c.connTimeout)
	if err != nil {
		return CauseUnknownIssue, fmt.Errorf("shuffle: diagnosing corruption of shuffle_%d_%d_%d: %w", shuffleID, mapID, reduceID, err)
	}
	m, err := Decode(resp)
	if err != nil {
		return CauseUnknownIssue, err
	}
	cc, ok := m.(*CorruptionCause)
	if !ok {
		return CauseUnknownIssue, fmt.Errorf("shuffle: expected CorruptionCause, got %T", m)
	}
	return cc.Cause, nil
}

// FetchBlocks fetches blocks of an executor from host:port, retrying I/O
// failures (spark.shuffle.io.maxRetries, every spark.shuffle.io.retryWait)
// for the blocks still outstanding. Each block ends in exactly one
// listener call. sizes, if given, route blocks larger than
// spark.network.maxRemoteBlockSizeFetchToMem to disk (with the other blocks
// of the same fetch, as Spark decides per fetch).
func (c *Client) FetchBlocks(host string, port int, execID string, blockIDs []string, sizes map[string]int64, l BlockFetchingListener) {
	if len(blockIDs) == 0 {
		return
	}
	r := &retrying{c: c, host: host, port: port, execID: execID, sizes: sizes, user: l,
		outstanding: make(map[string]bool, len(blockIDs))}
	for _, id := range blockIDs {
		r.outstanding[id] = true
	}
	r.order = append([]string(nil), blockIDs...)
	r.attempt()
}

// retrying is Spark's RetryingBlockTransferor: it re-fetches only the
// outstanding blocks, with a fresh listener each time; results reaching an
// old listener are ignored.
type retrying struct {
	c      *Client
	host   string
	port   int
	execID string
	sizes  map[string]int64
	user   BlockFetchingListener

	mu          sync.Mutex // guards the fields below
	order       []string
	outstanding map[string]bool
	retryCount  int
	current     *attemptListener
}

type attemptListener struct {
	r         *retrying
	scheduled bool // a retry was already scheduled by this attempt
}

func (r *retrying) attempt() {
	r.mu.Lock()
	ids := make([]string, 0, len(r.outstanding))
	for _, id := range r.order {
		if r.outstanding[id] {
			ids = append(ids, id)
		}
	}
	l := &attemptListener{r: r}
	r.current = l
	r.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	msg, ordered, err := buildFetchMessage(r.c.appID, r.execID, ids, r.c.useOld)
	if err != nil {
		for _, id := range ids {
			l.OnBlockFetchFailure(id, err)
		}
		return
	}
	cl, err := r.c.factory.CreateClient(r.host, r.port)
	if err != nil {
		for _, id := range ordered {
			l.OnBlockFetchFailure(id, err)
		}
		return
	}
	f := &oneForOneFetch{c: cl, ids: ordered, listener: l, tmpDir: r.c.tmpDir}
	if r.sizes != nil {
		f.toDisk = func(i int) bool { return r.sizes[ordered[i]] > r.c.toMemLimit }
	}
	f.start(msg)
}

func (l *attemptListener) OnBlockFetchSuccess(id string, data codec.ManagedBuffer) {
	r := l.r
	r.mu.Lock()
	ok := r.current == l && r.outstanding[id]
	if ok {
		delete(r.outstanding, id)
	}
	r.mu.Unlock()
	if ok {
		r.user.OnBlockFetchSuccess(id, data)
	}
}

func (l *attemptListener) OnBlockFetchFailure(id string, err error) {
	r := l.r
	r.mu.Lock()
	if r.current != l || !r.outstanding[id] {
		r.mu.Unlock()
		return
	}
	if l.scheduled {
		r.mu.Unlock()
		return // the retry already scheduled covers this block
	}
	if IsRetryable(err) && r.retryCount < r.c.maxRetries {
		r.retryCount++
		l.scheduled = true
		n := r.retryCount
		r.mu.Unlock()
		r.c.log.Info("retrying fetch", "attempt", n, "of", r.c.maxRetries, "outstanding", r.numOutstanding(), "wait", r.c.retryWait, "err", err)
		if !r.c.scheduleRetry(r) {
			r.failAll(fmt.Errorf("shuffle: could not schedule a retry (client closed) after: %w", err))
		}
		return
	}
	delete(r.outstanding, id)
	r.mu.Unlock()
	r.user.OnBlockFetchFailure(id, err)
}

func (r *retrying) numOutstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.outstanding)
}

func (r *retrying) failAll(err error) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.outstanding))
	for _, id := range r.order {
		if r.outstanding[id] {
			ids = append(ids, id)
			delete(r.outstanding, id)
		}
	}
	r.current = nil
	r.mu.Unlock()
	for _, id := range ids {
		r.user.OnBlockFetchFailure(id, err)
	}
}

// scheduleRetry runs r.attempt after retryWait on a goroutine the client
// owns; false if the client is closed.
func (c *Client) scheduleRetry(r *retrying) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.retries.Add(1)
	go func() {
		defer c.retries.Done()
		t := time.NewTimer(c.retryWait)
		defer t.Stop()
		select {
		case <-t.C:
			r.attempt()
		case <-c.stop:
			r.failAll(errors.New("shuffle: client closed before retrying"))
		}
	}()
	return true
}

// FetchRequest is a set of blocks of one executor at one service.
type FetchRequest struct {
	Host   string
	Port   int
	ExecID string
	Blocks []BlockInfo
}

// BlockInfo is a block id and its size (from the map status).
type BlockInfo struct {
	ID   string
	Size int64
}

// FetchAll fetches every block of reqs under Spark's reducer limits
// (spark.reducer.maxSizeInFlight, maxReqsInFlight,
// maxBlocksInFlightPerAddress): requests are cut into pieces of at most
// maxSizeInFlight/5 bytes and issued while the limits allow. onBlock runs
// for each block (possibly concurrently, data valid during the call); the
// first fetch failure or onBlock error ends FetchAll with that error after
// the requests in flight finish.
func (c *Client) FetchAll(ctx context.Context, reqs []FetchRequest, onBlock func(blockID string, data codec.ManagedBuffer) error) error {
	type piece struct {
		req   *FetchRequest
		ids   []string
		sizes map[string]int64
		bytes int64
	}
	target := max(c.maxInFlight/5, 1)
	var pieces []piece
	for i := range reqs {
		r := &reqs[i]
		cur := piece{req: r, sizes: map[string]int64{}}
		for _, b := range r.Blocks {
			if len(cur.ids) > 0 && (cur.bytes+b.Size > target || len(cur.ids) >= c.maxBlocksPerAddr) {
				pieces = append(pieces, cur)
				cur = piece{req: r, sizes: map[string]int64{}}
			}
			cur.ids = append(cur.ids, b.ID)
			cur.sizes[b.ID] = b.Size
			cur.bytes += b.Size
		}
		if len(cur.ids) > 0 {
			pieces = append(pieces, cur)
		}
	}
	var (
		mu          sync.Mutex
		cond        = sync.NewCond(&mu)
		inBytes     int64
		inReqs      int
		inPerAddr   = map[string]int{}
		firstErr    error
		outstanding int
	)
	addrKey := func(p *piece) string { return fmt.Sprintf("%s:%d/%s", p.req.Host, p.req.Port, p.req.ExecID) }
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		cond.Broadcast()
		mu.Unlock()
	})
	defer stopWatch()
	for i := range pieces {
		p := &pieces[i]
		mu.Lock()
		for firstErr == nil && inReqs > 0 && (inBytes+p.bytes > c.maxInFlight || inReqs >= c.maxReqs ||
			inPerAddr[addrKey(p)]+len(p.ids) > c.maxBlocksPerAddr) {
			cond.Wait()
		}
		if firstErr != nil {
			mu.Unlock()
			break
		}
		inBytes += p.bytes
		inReqs++
		inPerAddr[addrKey(p)] += len(p.ids)
		outstanding += len(p.ids)
		mu.Unlock()
		done := func(id string, err error) {
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			inBytes -= p.sizes[id]
			inPerAddr[addrKey(p)]--
			outstanding--
			cond.Broadcast()
			mu.Unlock()
		}
		var remaining = len(p.ids)
		var pmu sync.Mutex
		finish := func() {
			pmu.Lock()
			remaining--
			last := remaining == 0
			pmu.Unlock()
			if last {
				mu.Lock()
				inReqs--
				cond.Broadcast()
				mu.Unlock()
			}
		}
		c.FetchBlocks(p.req.Host, p.req.Port, p.req.ExecID, p.ids, p.sizes, listenerFuncs{
			success: func(id string, data codec.ManagedBuffer) {
				err := onBlock(id, data)
				done(id, err)
				finish()
			},
			failure: func(id string, err error) {
				done(id, fmt.Errorf("shuffle: fetching %s from %s:%d: %w", id, p.req.Host, p.req.Port, err))
				finish()
			},
		})
	}
	mu.Lock()
	for outstanding > 0 {
		cond.Wait()
	}
	err := firstErr
	mu.Unlock()
	return err
}

type listenerFuncs struct {
	success func(string, codec.ManagedBuffer)
	failure func(string, error)
}

func (l listenerFuncs) OnBlockFetchSuccess(id string, d codec.ManagedBuffer) { l.success(id, d) }
func (l listenerFuncs) OnBlockFetchFailure(id string, err error)             { l.failure(id, err) }
