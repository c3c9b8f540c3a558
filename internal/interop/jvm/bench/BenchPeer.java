package ember.interop.bench;

import io.netty.buffer.ByteBuf;
import io.netty.channel.epoll.Epoll;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.network.TransportContext;
import org.apache.spark.network.buffer.FileSegmentManagedBuffer;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.client.ChunkReceivedCallback;
import org.apache.spark.network.client.RpcResponseCallback;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.client.TransportClientFactory;
import org.apache.spark.network.server.OneForOneStreamManager;
import org.apache.spark.network.server.RpcHandler;
import org.apache.spark.network.server.StreamManager;
import org.apache.spark.network.server.TransportServer;
import org.apache.spark.network.shuffle.ExternalBlockHandler;
import org.apache.spark.network.util.MapConfigProvider;
import org.apache.spark.network.util.TransportConf;

/**
 * Ember's benchmark peer on Spark's own network stack (spark-network-common
 * and spark-network-shuffle), driven by the Go benchmarks in bench/ over
 * stdin and stdout.
 *
 * <p>{@code BenchPeer transport}: one JVM holding a Spark TransportServer
 * (an echo RpcHandler whose stream manager is a OneForOneStreamManager) and
 * a TransportClientFactory connected to it on 127.0.0.1, the same shape as
 * Ember's in-process benchmarks. {@code BenchPeer shuffle-service}: Spark's
 * external shuffle service (a TransportServer with an ExternalBlockHandler
 * and no registered-executor database) for an Ember client to read from.
 *
 * <p>Both use EPOLL (Netty's native transport) when it loads, else NIO, and
 * say which. Every line meant for the Go side starts with "EMBERPEER "; the
 * first is {@code EMBERPEER READY port=<p> io=<mode> pid=<pid>
 * epoll=<true|false>}. Then, one command per line on stdin:
 *
 * <pre>
 * rpc SIZE INFLIGHT COUNT LATFILE
 *     COUNT echo round trips of SIZE-byte payloads, INFLIGHT outstanding
 *     on the factory's one pooled connection (closed loop: each answer
 *     sends the next request from the callback)
 * fetch PATH FILESIZE CHUNK INFLIGHT CONNS COUNT LATFILE
 *     COUNT chunks of CHUNK bytes of PATH, INFLIGHT outstanding on each of
 *     CONNS connections (CONNS=1: the pooled client; otherwise unmanaged
 *     clients); connection k asks for chunks [k*COUNT/CONNS, (k+1)*COUNT/CONNS)
 *     of the file in order, wrapping at its end, one registered stream per
 *     64 chunks; every chunk's first 8 bytes must be its offset (big
 *     endian), as Ember's bench data files are stamped
 * oneway SIZE COUNT
 *     COUNT one-way messages of SIZE bytes sent as fast as one thread can on
 *     the pooled connection; done when the server has received them all
 *     (no LATFILE)
 * quit
 * </pre>
 *
 * Each answers {@code EMBERPEER OK n=<ops> elapsed=<ns>} or {@code EMBERPEER
 * ERR <message>}. LATFILE ("-" for none) receives every operation's latency
 * in nanoseconds as little-endian 64-bit integers, in completion order.
 */
public final class BenchPeer {
  private static final String PREFIX = "EMBERPEER ";
  private static final int CHUNKS_PER_STREAM = 64;
  /** The longest one command may take before it is reported as stuck. */
  private static final long LIMIT_SECONDS = 600;

  private static PrintStream out;

  private BenchPeer() {}

  public static void main(String[] args) throws Exception {
    // Only protocol lines go to stdout; anything a library prints goes to
    // stderr.
    out = System.out;
    System.setOut(System.err);
    String what = args.length > 0 ? args[0] : "";
    String io = Epoll.isAvailable() ? "EPOLL" : "NIO";
    if (!Epoll.isAvailable()) {
      System.err.println("BenchPeer: native epoll unavailable: " + Epoll.unavailabilityCause());
    }
    switch (what) {
      case "transport":
        runTransport(io);
        break;
      case "shuffle-service":
        runShuffleService(io);
        break;
      default:
        System.err.println("usage: BenchPeer transport|shuffle-service");
        System.exit(2);
    }
  }

  private static void say(String line) {
    synchronized (out) {
      out.println(PREFIX + line);
      out.flush();
    }
  }

  private static TransportConf conf(String module, String io) {
    Map<String, String> m = new HashMap<>();
    m.put("spark." + module + ".io.mode", io);
    return new TransportConf(module, new MapConfigProvider(m));
  }

  // ---- shuffle service ----

  private static void runShuffleService(String io) throws Exception {
    TransportConf conf = conf("shuffle", io);
    ExternalBlockHandler handler = new ExternalBlockHandler(conf, null);
    TransportContext ctx = new TransportContext(conf, handler, true);
    TransportServer server = ctx.createServer("127.0.0.1", 0, Collections.emptyList());
    say("READY port=" + server.getPort() + " io=" + io + " pid=" + ProcessHandle.current().pid()
        + " epoll=" + Epoll.isAvailable());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null && !line.trim().equals("quit")) {
      if (!line.isBlank()) {
        say("ERR the shuffle service takes no commands but quit");
      }
    }
    server.close();
    handler.close();
    ctx.close();
  }

  // ---- transport: echo RPCs and chunk fetches ----

  /**
   * Echoes a copy of every RPC and counts one-way messages; chunks come from
   * the stream manager.
   */
  private static final class EchoHandler extends RpcHandler {
    final OneForOneStreamManager streams = new OneForOneStreamManager();
    final AtomicInteger received = new AtomicInteger();
    volatile int expected = -1;
    volatile CountDownLatch allReceived = new CountDownLatch(1);

    @Override
    public void receive(TransportClient client, ByteBuffer message) {
      if (received.incrementAndGet() == expected) {
        allReceived.countDown();
      }
    }

    @Override
    public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
      ByteBuffer copy = ByteBuffer.allocate(message.remaining());
      copy.put(message).flip();
      callback.onSuccess(copy);
    }

    @Override
    public StreamManager getStreamManager() {
      return streams;
    }
  }

  private static void runTransport(String io) throws Exception {
    TransportConf conf = conf("bench", io);
    EchoHandler handler = new EchoHandler();
    TransportContext ctx = new TransportContext(conf, handler);
    TransportServer server = ctx.createServer("127.0.0.1", 0, Collections.emptyList());
    TransportClientFactory factory = ctx.createClientFactory();
    say("READY port=" + server.getPort() + " io=" + io + " pid=" + ProcessHandle.current().pid()
        + " epoll=" + Epoll.isAvailable());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 0 || f[0].isEmpty()) {
        continue;
      }
      if (f[0].equals("quit")) {
        break;
      }
      try {
        switch (f[0]) {
          case "rpc":
            expect(f, 5);
            rpc(factory, server.getPort(), Integer.parseInt(f[1]), Integer.parseInt(f[2]),
                Integer.parseInt(f[3]), f[4]);
            break;
          case "oneway":
            expect(f, 3);
            oneWay(factory, handler, server.getPort(), Integer.parseInt(f[1]), Integer.parseInt(f[2]));
            break;
          case "fetch":
            expect(f, 8);
            fetch(conf, handler.streams, factory, server.getPort(), new File(f[1]), Long.parseLong(f[2]),
                Integer.parseInt(f[3]), Integer.parseInt(f[4]), Integer.parseInt(f[5]),
                Integer.parseInt(f[6]), f[7]);
            break;
          default:
            say("ERR unknown command " + f[0]);
        }
      } catch (Exception e) {
        say("ERR " + oneLine(e));
      }
    }
    factory.close();
    server.close();
    ctx.close();
  }

  private static void expect(String[] f, int n) {
    if (f.length != n) {
      throw new IllegalArgumentException(f[0] + " takes " + (n - 1) + " arguments, got " + (f.length - 1));
    }
  }

  private static String oneLine(Throwable e) {
    String s = e.toString();
    for (Throwable c = e.getCause(); c != null && c != e; c = c.getCause()) {
      s += ": " + c;
      if (c.getCause() == c) {
        break;
      }
    }
    return s.replace('\n', ' ').replace('\r', ' ');
  }

  /** The state of one closed-loop run: latencies and the first error. */
  private static final class Run {
    final long[] lat;
    final CountDownLatch done = new CountDownLatch(1);
    final AtomicInteger completed = new AtomicInteger();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    final int count;

    Run(int count) {
      this.count = count;
      this.lat = new long[count];
    }

    /** Records an operation's latency; the last one ends the run. */
    void complete(long nanos) {
      int i = completed.getAndIncrement();
      if (i < count) {
        lat[i] = nanos;
      }
      if (i + 1 == count) {
        done.countDown();
      }
    }

    void fail(Throwable t) {
      failure.compareAndSet(null, t);
      done.countDown();
    }

    void await() throws Exception {
      if (!done.await(LIMIT_SECONDS, TimeUnit.SECONDS)) {
        throw new IllegalStateException("run of " + count + " ops: only " + completed.get()
            + " done within " + LIMIT_SECONDS + " s");
      }
      Throwable t = failure.get();
      if (t != null) {
        throw new IllegalStateException("operation failed: " + oneLine(t), t);
      }
    }
  }

  private static void rpc(TransportClientFactory factory, int port, int size, int inflight, int count,
      String latFile) throws Exception {
    if (size < 0 || inflight < 1 || count < 1) {
      throw new IllegalArgumentException("rpc: bad size, in-flight count or count");
    }
    TransportClient client = factory.createClient("127.0.0.1", port);
    ByteBuffer payload = ByteBuffer.allocate(size);
    for (int i = 0; i < size; i++) {
      payload.put(i, (byte) (i * 31 + 7));
    }
    Run run = new Run(count);
    AtomicInteger issued = new AtomicInteger();
    // Each answer sends the next request (from Netty's event loop), so
    // inflight requests stay outstanding until count have been issued.
    final class Caller implements RpcResponseCallback {
      long sentAt;

      void next() {
        if (issued.getAndIncrement() >= count) {
          return;
        }
        sentAt = System.nanoTime();
        client.sendRpc(payload.duplicate(), this);
      }

      @Override
      public void onSuccess(ByteBuffer response) {
        long now = System.nanoTime();
        if (response.remaining() != size) {
          run.fail(new IllegalStateException("echo of " + size + " bytes came back with "
              + response.remaining()));
          return;
        }
        run.complete(now - sentAt);
        next();
      }

      @Override
      public void onFailure(Throwable e) {
        run.fail(e);
      }
    }
    long t0 = System.nanoTime();
    for (int w = 0; w < Math.min(inflight, count); w++) {
      new Caller().next();
    }
    run.await();
    long elapsed = System.nanoTime() - t0;
    writeLatencies(latFile, run.lat);
    say("OK n=" + count + " elapsed=" + elapsed);
  }

  private static void oneWay(TransportClientFactory factory, EchoHandler handler, int port, int size, int count)
      throws Exception {
    if (size < 0 || count < 1) {
      throw new IllegalArgumentException("oneway: bad size or count");
    }
    TransportClient client = factory.createClient("127.0.0.1", port);
    ByteBuffer payload = ByteBuffer.allocate(size);
    // No message is in flight between commands: reset, then arm.
    handler.expected = -1;
    handler.received.set(0);
    handler.allReceived = new CountDownLatch(1);
    handler.expected = count;
    long t0 = System.nanoTime();
    for (int i = 0; i < count; i++) {
      client.send(payload.duplicate());
    }
    if (!handler.allReceived.await(LIMIT_SECONDS, TimeUnit.SECONDS)) {
      throw new IllegalStateException("only " + handler.received.get() + " of " + count
          + " one-way messages arrived within " + LIMIT_SECONDS + " s");
    }
    long elapsed = System.nanoTime() - t0;
    say("OK n=" + count + " elapsed=" + elapsed);
  }

  /** Chunks [first, first+n) of a file, wrapping at total chunks. */
  private static Iterator<ManagedBuffer> fileChunks(TransportConf conf, File file, long chunk, long first,
      long total, int n) {
    List<ManagedBuffer> bufs = new ArrayList<>(n);
    for (int j = 0; j < n; j++) {
      long off = ((first + j) % total) * chunk;
      bufs.add(new FileSegmentManagedBuffer(conf, file, off, chunk));
    }
    return bufs.iterator();
  }

  private static void fetch(TransportConf conf, OneForOneStreamManager streams, TransportClientFactory factory,
      int port, File file, long fileSize, int chunk, int inflight, int conns, int count, String latFile)
      throws Exception {
    if (chunk < 8 || inflight < 1 || conns < 1 || count < conns || fileSize < chunk) {
      throw new IllegalArgumentException("fetch: bad chunk size, in-flight count, connections or count");
    }
    long total = fileSize / chunk;
    List<TransportClient> clients = new ArrayList<>();
    if (conns == 1) {
      clients.add(factory.createClient("127.0.0.1", port));
    } else {
      for (int k = 0; k < conns; k++) {
        clients.add(factory.createUnmanagedClient("127.0.0.1", port));
      }
    }
    try {
      // Connection k's chunks, one stream per CHUNKS_PER_STREAM, registered
      // before the clock starts (as Ember's benchmark does).
      long[][] stream = new long[conns][];
      int[] lo = new int[conns];
      int[] hi = new int[conns];
      for (int k = 0; k < conns; k++) {
        lo[k] = (int) ((long) k * count / conns);
        hi[k] = (int) ((long) (k + 1) * count / conns);
        int n = hi[k] - lo[k];
        stream[k] = new long[(n + CHUNKS_PER_STREAM - 1) / CHUNKS_PER_STREAM];
        for (int s = 0; s < stream[k].length; s++) {
          int first = lo[k] + s * CHUNKS_PER_STREAM;
          int m = Math.min(CHUNKS_PER_STREAM, hi[k] - first);
          stream[k][s] = streams.registerStream("bench", fileChunks(conf, file, chunk, first, total, m), null);
        }
      }
      Run run = new Run(count);
      // One pipeline per connection: chunks are asked for in order and a
      // connection answers in order, so each answer issues the next.
      final class Pipeline implements ChunkReceivedCallback {
        final TransportClient client;
        final int k;
        final long[] sentAt;
        int issued; // guarded by this; issue runs on the connection's event loop
        int completed; // guarded by this

        Pipeline(TransportClient client, int k) {
          this.client = client;
          this.k = k;
          this.sentAt = new long[hi[k] - lo[k]];
        }

        synchronized void issue() {
          int i = issued++;
          if (i >= sentAt.length) {
            return;
          }
          sentAt[i] = System.nanoTime();
          client.fetchChunk(stream[k][i / CHUNKS_PER_STREAM], i % CHUNKS_PER_STREAM, this);
        }

        @Override
        public void onSuccess(int chunkIndex, ManagedBuffer buffer) {
          long now = System.nanoTime();
          int i;
          synchronized (this) {
            i = completed++; // a connection answers in the order it was asked
          }
          long want = ((lo[k] + (long) i) % total) * chunk;
          if (buffer.size() != chunk) {
            run.fail(new IllegalStateException("chunk " + i + " has " + buffer.size() + " bytes, want " + chunk));
            return;
          }
          long stamp;
          try {
            ByteBuf bb = (ByteBuf) buffer.convertToNetty();
            try {
              stamp = bb.getLong(bb.readerIndex());
            } finally {
              bb.release();
            }
          } catch (IOException e) {
            run.fail(e);
            return;
          }
          if (stamp != want || chunkIndex != i % CHUNKS_PER_STREAM) {
            run.fail(new IllegalStateException("chunk " + i + " (index " + chunkIndex + ") starts with "
                + stamp + ", want the offset " + want));
            return;
          }
          run.complete(now - sentAt[i]);
          issue();
        }

        @Override
        public void onFailure(int chunkIndex, Throwable e) {
          run.fail(e);
        }
      }
      List<Pipeline> pipes = new ArrayList<>();
      for (int k = 0; k < conns; k++) {
        pipes.add(new Pipeline(clients.get(k), k));
      }
      long t0 = System.nanoTime();
      for (Pipeline p : pipes) {
        // The first window goes out from the connection's event loop too:
        // a write from another thread is queued behind the loop's own, so
        // an answer's next request could overtake it and break the order
        // a stream's chunks must be asked for in.
        p.client.getChannel().eventLoop().execute(() -> {
          for (int j = 0; j < inflight; j++) {
            p.issue();
          }
        });
      }
      run.await();
      long elapsed = System.nanoTime() - t0;
      writeLatencies(latFile, run.lat);
      say("OK n=" + count + " elapsed=" + elapsed);
    } finally {
      if (conns > 1) {
        for (TransportClient c : clients) {
          c.close();
        }
      }
    }
  }

  private static void writeLatencies(String path, long[] lat) throws IOException {
    if (path.equals("-")) {
      return;
    }
    ByteBuffer buf = ByteBuffer.allocate(lat.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : lat) {
      buf.putLong(v);
    }
    buf.flip();
    try (FileChannel ch = FileChannel.open(Paths.get(path), StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
    }
  }
}
