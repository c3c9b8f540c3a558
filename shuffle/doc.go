// Package shuffle is Spark's external shuffle service and its block-fetch
// client, wire-compatible with Spark's shuffle protocol, so a Spark
// executor can register with Ember's service and fetch from it.
//
// # Protocol
//
// Every BlockTransferMessage (Message; Encode, Decode) travels as the
// payload of an RpcRequest or RpcResponse on a connection of the transport's
// "shuffle" module: OpenBlocks and FetchShuffleBlocks open a stream of
// chunks (StreamHandle), one per block, fetched with ChunkFetchRequest and
// served from files with sendfile; RegisterExecutor tells the service where
// an executor keeps its files; RemoveBlocks, GetLocalDirsForExecutors and
// DiagnoseCorruption do what they say. Block ids (ParseBlockID) are
// shuffle_<s>_<m>_<r>, shuffle_<s>_<m>_<start>_<end>, shuffleChunk_… and rdd_….
//
// # Layout
//
// Map outputs use Spark's sort-shuffle layout: a data file with every
// partition's bytes and an index file of numPartitions+1 big-endian offsets,
// placed under the executor's local dirs by Java's String.hashCode of the
// file name (FilePath), so files Spark writes are found and files Ember
// writes (MapOutputWriter) look like Spark's.
//
// # Service and client
//
//	svc, _ := shuffle.NewService(shuffle.ServiceConfig{Port: 7337, DBDir: dir})
//	cl, _ := shuffle.NewClient(shuffle.ClientConfig{AppID: "app-1"})
//	cl.RegisterWithShuffleServer(host, 7337, "1", info)
//	cl.FetchAll(ctx, requests, func(id string, data codec.ManagedBuffer) error { ... })
//
// Registrations are persisted in a bbolt database (spark.shuffle.service.db.enabled)
// so a restarted service still serves them. The client retries I/O failures
// for the blocks still outstanding (spark.shuffle.io.maxRetries, retryWait),
// keeps within spark.reducer.maxSizeInFlight / maxReqsInFlight /
// maxBlocksInFlightPerAddress, and streams blocks larger than
// spark.network.maxRemoteBlockSizeFetchToMem to disk.
//
// # Limits
//
// The service trusts no count it is sent. The decoder checks every array
// count against the bytes left, and that FetchShuffleBlocks' map ids and
// reduce id arrays pair up, before allocating, and caps the ids of one
// request at spark.shuffle.service.ember.maxBlocksPerRequest (2^20). A
// stream keeps its request in compact arrays (4 bytes per reduce id, 12
// per map id) and resolves each block when its chunk is fetched; a
// connection may hold spark.shuffle.service.ember.maxStreamsPerConnection
// open streams of spark.shuffle.service.ember.maxBlocksPerConnection blocks
// in all. An executor's local dirs must be absolute, without "..", neither
// the root, a top-level dir nor a system dir (/etc, /proc, /sys, /dev,
// /usr, /bin, /sbin, /boot, /lib*), before or after resolving symbolic
// links, and beneath spark.shuffle.service.ember.allowedLocalDirRoots
// (comma-separated; unset: the temp dir and /tmp, SPARK_LOCAL_DIRS, spark.local.dir
// and, in a worker, its local roots and work dir; empty: any dir, with a
// warning at start). Those checks are made once, at registration, when the
// service opens each local dir (a dir that does not exist yet is checked
// again and opened at first use); block files are then opened and deleted
// only relative to that descriptor, the kernel resolving the sub-dir and
// the file without following any symbolic link or leaving the dir
// (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an openat with
// O_NOFOLLOW per component on kernels before 5.6), and only if the open
// descriptor is a regular file: nothing is checked by path and opened
// again, so a path swapped for a link in between is never followed.
//
// # Open files
//
// Chunks are sent from descriptors the service keeps open between chunks: an
// LRU of at most spark.shuffle.service.ember.maxOpenFiles data and RDD files
// (1024; 0 keeps none, and it is lowered to half of ulimit -n). The same
// cache, keyed by map output, holds the parsed index files, an LRU of its
// own bounded by spark.shuffle.service.index.cache.size, so that a chunk
// finds its map's offsets and open data file under one lock (filecache.go).
// A chunk being sent holds its file's descriptor until it is written,
// evicted or not. RemoveBlocks, ApplicationRemoved, an executor's removal
// and its re-registration close the executor's cached files (and, for an
// application, its local dirs), and each chunk fstats its descriptor: a file
// deleted or replaced on disk (a map output committed again) is opened anew,
// never served from the old descriptor. A file deleted behind the service's
// back keeps its disk space until its entry is evicted or used. With the
// index cached and the data file open, serving a chunk makes one system call
// before sendfile and allocates nothing. Warnings about one peer's messages
// are rate-limited (internal/ratelog: one line per host per minute, with a
// count of the suppressed). Without spark.authenticate any peer may read any
// application's blocks, as with Spark's service.
//
// Push-based shuffle (merge) messages are encoded and decoded, but this
// service answers them with a clear failure, as Spark's default no-op merge
// manager does.
//
// # Compatibility
//
// The service answers as Spark 4.1's does, which internal/interop/shuffle
// checks live against Spark's own service and client: DiagnoseCorruption
// fails the request when the block does not resolve (unregistered
// executor, missing index, reduce id outside it), matches algorithm names
// exactly (ADLER32, CRC32, CRC32C; anything else is
// UNSUPPORTED_CHECKSUM_ALGORITHM), and reads an unreadable checksum file
// as UNKNOWN_ISSUE; RemoveBlocks deletes any block file it names (the
// driver removes shuffle files this way) except names that could leave the
// executor's dirs; RDD blocks are served whatever
// spark.shuffle.service.fetch.rdd.enabled says (it only keeps them past
// their executor). Ember departs knowingly where Spark would register an
// executor it can never serve (Ember refuses it), where Spark fails every
// chunk after a broken one (Ember serves them; fetchers stop at the first
// failure either way), and where Spark 4.1 refuses a GetLocalDirsForExecutors
// naming an executor twice.
package shuffle
