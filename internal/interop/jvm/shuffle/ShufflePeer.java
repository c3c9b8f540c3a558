package ember.interop.shuffle;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.spark.network.TransportContext;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.crypto.AuthServerBootstrap;
import org.apache.spark.network.sasl.SecretKeyHolder;
import org.apache.spark.network.server.TransportServer;
import org.apache.spark.network.server.TransportServerBootstrap;
import org.apache.spark.network.shuffle.BlockFetchingListener;
import org.apache.spark.network.shuffle.DownloadFile;
import org.apache.spark.network.shuffle.DownloadFileManager;
import org.apache.spark.network.shuffle.ExternalBlockHandler;
import org.apache.spark.network.shuffle.ExternalBlockStoreClient;
import org.apache.spark.network.shuffle.ShuffleTransportContext;
import org.apache.spark.network.shuffle.SimpleDownloadFile;
import org.apache.spark.network.shuffle.checksum.Cause;
import org.apache.spark.network.shuffle.protocol.BlockTransferMessage;
import org.apache.spark.network.shuffle.protocol.CorruptionCause;
import org.apache.spark.network.shuffle.protocol.DiagnoseCorruption;
import org.apache.spark.network.shuffle.protocol.ExecutorShuffleInfo;
import org.apache.spark.network.util.MapConfigProvider;
import org.apache.spark.network.util.TransportConf;

/**
 * Ember's live peer for the shuffle interop tests: Spark's own external
 * shuffle service (ExternalBlockHandler on a TransportServer) and Spark's
 * own shuffle client (ExternalBlockStoreClient), driven by the Go test over
 * stdin and stdout.
 *
 * Each request is one line of tab-separated fields; each answer is one line
 * "@@ok" or "@@err" followed by tab-separated fields. Everything else the JVM
 * prints (Spark's logs) goes to stderr. Objects are named by the test:
 *
 *   server NAME key=value...            -> @@ok PORT (keys port= and db=, the registration
 *                                          database, are the server's own)
 *   client NAME key=value...            -> @@ok        (key app= is the app id)
 *   register CLIENT HOST PORT EXEC SUBDIRS MANAGER DIR...
 *   fetch CLIENT HOST PORT EXEC TODISK(0|1) BLOCK...
 *                                       -> @@ok then per block ID=OK:SIZE:SHA256:CLASS or ID=FAIL:MESSAGE
 *   fetchpar CLIENT HOST PORT EXEC N BLOCK... -> N fetches of the blocks at once: @@ok then
 *                                          K:ID=... per fetch K and block, as fetch answers
 *   remove CLIENT HOST PORT EXEC BLOCK... -> @@ok COUNT
 *   localdirs CLIENT HOST PORT EXEC...  -> @@ok then EXEC=DIR,DIR per executor, sorted
 *   diagnose CLIENT HOST PORT EXEC SHUFFLE MAP REDUCE CHECKSUM ALGORITHM
 *                                       -> @@ok CLIENT_CAUSE RAW (RAW is the cause the service
 *                                          sent, or FAIL:MESSAGE when it failed the RPC)
 *   raw CLIENT HOST PORT HEX [nochunks] -> @@ok RESULT: the service's answer to the RPC whose
 *                                          payload is HEX, as OK:HEX or FAIL:MESSAGE; when the
 *                                          answer is a StreamHandle (and not nochunks), then
 *                                          each chunk's OK:SIZE:SHA256 or FAIL:MESSAGE
 *   rawchunk CLIENT HOST PORT STREAM INDEX -> @@ok OK:SIZE:SHA256 or FAIL:MESSAGE
 *   push CLIENT HOST PORT BLOCK...      -> @@ok then per block ID=OK or ID=FAIL:MESSAGE (pushBlocks,
 *                                          1 KiB each)
 *   mergedmeta CLIENT HOST PORT SHUFFLE MERGEID REDUCE -> @@ok OK:NUMCHUNKS or FAIL:MESSAGE
 *   execremoved SERVER EXEC APP         -> @@ok (the service's executorRemoved)
 *   appremoved SERVER APP CLEANUP       -> @@ok (the service's applicationRemoved)
 *   filepath SUBDIRS NDIRS DIR... NAME... -> @@ok then, per name, where Spark's
 *                                          ExecutorDiskUtils puts it
 *   close NAME
 *   quit
 */
public final class ShufflePeer {
  private static final long TIMEOUT_MS = 60_000;

  private final PrintStream out;
  private final Map<String, Server> servers = new HashMap<>();
  private final Map<String, Client> clients = new HashMap<>();

  private ShufflePeer(PrintStream out) {
    this.out = out;
  }

  public static void main(String[] args) throws Exception {
    // Netty 4.2 checks the peer's host name (HTTPS rules) by default, and
    // Spark 4.1's PEM TLS client builds its engine without the host: every
    // TLS handshake would fail, even between two Sparks. Deployments turn
    // the check off; so does the peer.
    System.setProperty("io.netty.handler.ssl.defaultEndpointVerificationAlgorithm", "NONE");
    // The protocol owns the real stdout; anything else printing to
    // System.out (a logger's console appender) lands on stderr.
    PrintStream proto = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
    System.setOut(System.err);
    new ShufflePeer(proto).run(System.in);
  }

  private void run(InputStream in) throws Exception {
    BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
    out.println("@@ok\tready");
    String line;
    while ((line = r.readLine()) != null) {
      String[] f = line.split("\t", -1);
      if (f[0].equals("quit")) {
        break;
      }
      try {
        reply("@@ok", handle(f));
      } catch (Throwable e) {
        reply("@@err", List.of(describe(e)));
      }
    }
    for (Client c : clients.values()) {
      c.close();
    }
    for (Server s : servers.values()) {
      s.close();
    }
    out.println("@@ok\tbye");
  }

  private void reply(String status, List<String> fields) {
    StringBuilder b = new StringBuilder(status);
    for (String s : fields) {
      b.append('\t').append(clean(s));
    }
    out.println(b);
  }

  private static String clean(String s) {
    return s == null ? "null" : s.replace('\t', ' ').replace('\n', ' ').replace('\r', ' ');
  }

  private static String describe(Throwable e) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = e; c != null && b.length() < 2000; c = c.getCause()) {
      if (b.length() > 0) {
        b.append(" <- ");
      }
      b.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
      if (c.getCause() == c) {
        break;
      }
    }
    return b.toString();
  }

  private List<String> handle(String[] f) throws Exception {
    switch (f[0]) {
      case "server": {
        Server s = new Server(options(f, 2));
        servers.put(f[1], s);
        return List.of(Integer.toString(s.server.getPort()));
      }
      case "client": {
        clients.put(f[1], new Client(options(f, 2)));
        return List.of();
      }
      case "register": {
        String[] dirs = Arrays.copyOfRange(f, 7, f.length);
        client(f[1]).store.registerWithShuffleServer(f[2], Integer.parseInt(f[3]), f[4],
            new ExecutorShuffleInfo(dirs, Integer.parseInt(f[5]), f[6]));
        return List.of();
      }
      case "fetch":
        return client(f[1]).fetch(f[2], Integer.parseInt(f[3]), f[4], f[5].equals("1"),
            Arrays.copyOfRange(f, 6, f.length));
      case "fetchpar":
        return client(f[1]).fetchParallel(f[2], Integer.parseInt(f[3]), f[4], Integer.parseInt(f[5]),
            Arrays.copyOfRange(f, 6, f.length));
      case "remove": {
        Integer n = client(f[1]).store.removeBlocks(f[2], Integer.parseInt(f[3]), f[4],
            Arrays.copyOfRange(f, 5, f.length)).get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        return List.of(Integer.toString(n));
      }
      case "localdirs": {
        CompletableFuture<Map<String, String[]>> fut = new CompletableFuture<>();
        client(f[1]).store.getHostLocalDirs(f[2], Integer.parseInt(f[3]),
            Arrays.copyOfRange(f, 4, f.length), fut);
        TreeMap<String, String[]> sorted = new TreeMap<>(fut.get(TIMEOUT_MS, TimeUnit.MILLISECONDS));
        List<String> res = new ArrayList<>();
        for (Map.Entry<String, String[]> e : sorted.entrySet()) {
          res.add(e.getKey() + "=" + String.join(",", e.getValue()));
        }
        return res;
      }
      case "diagnose":
        return client(f[1]).diagnose(f[2], Integer.parseInt(f[3]), f[4], Integer.parseInt(f[5]),
            Long.parseLong(f[6]), Integer.parseInt(f[7]), Long.parseLong(f[8]), f[9]);
      case "filepath": {
        int sub = Integer.parseInt(f[1]);
        int n = Integer.parseInt(f[2]);
        String[] dirs = Arrays.copyOfRange(f, 3, 3 + n);
        List<String> res = new ArrayList<>();
        for (int i = 3 + n; i < f.length; i++) {
          res.add(org.apache.spark.network.shuffle.ExecutorDiskUtils.getFilePath(dirs, sub, f[i]));
        }
        return res;
      }
      case "push":
        return client(f[1]).push(f[2], Integer.parseInt(f[3]), Arrays.copyOfRange(f, 4, f.length));
      case "mergedmeta":
        return client(f[1]).mergedMeta(f[2], Integer.parseInt(f[3]), Integer.parseInt(f[4]),
            Integer.parseInt(f[5]), Integer.parseInt(f[6]));
      case "execremoved":
        server(f[1]).handler.executorRemoved(f[2], f[3]);
        return List.of();
      case "appremoved":
        server(f[1]).handler.applicationRemoved(f[2], Boolean.parseBoolean(f[3]));
        return List.of();
      case "raw":
        return client(f[1]).raw(f[2], Integer.parseInt(f[3]), f[4],
            f.length > 5 && f[5].equals("nochunks"));
      case "rawchunk":
        return List.of(client(f[1]).chunk(f[2], Integer.parseInt(f[3]), Long.parseLong(f[4]),
            Integer.parseInt(f[5])));
      case "close": {
        Client c = clients.remove(f[1]);
        if (c != null) {
          c.close();
        }
        Server s = servers.remove(f[1]);
        if (s != null) {
          s.close();
        }
        return List.of();
      }
      default:
        throw new IllegalArgumentException("unknown command " + f[0]);
    }
  }

  private Server server(String name) {
    Server s = servers.get(name);
    if (s == null) {
      throw new IllegalArgumentException("no server " + name);
    }
    return s;
  }

  private Client client(String name) {
    Client c = clients.get(name);
    if (c == null) {
      throw new IllegalArgumentException("no client " + name);
    }
    return c;
  }

  private static Map<String, String> options(String[] f, int from) {
    Map<String, String> m = new HashMap<>();
    for (int i = from; i < f.length; i++) {
      int eq = f[i].indexOf('=');
      if (eq < 0) {
        throw new IllegalArgumentException("not key=value: " + f[i]);
      }
      m.put(f[i].substring(0, eq), f[i].substring(eq + 1));
    }
    return m;
  }

  /** Knows one secret, for every application (the tests use one). */
  private static SecretKeyHolder keyHolder(String secret) {
    return new SecretKeyHolder() {
      @Override
      public String getSaslUser(String appId) {
        return appId;
      }

      @Override
      public String getSecretKey(String appId) {
        return secret;
      }
    };
  }

  private static boolean authOn(Map<String, String> conf) {
    return Boolean.parseBoolean(conf.getOrDefault("spark.authenticate", "false"));
  }

  /** Spark's external shuffle service at the network level. */
  private static final class Server {
    final ExternalBlockHandler handler;
    final TransportContext context;
    final TransportServer server;

    Server(Map<String, String> opts) throws Exception {
      Map<String, String> conf = new HashMap<>(opts);
      int port = Integer.parseInt(conf.getOrDefault("port", "0"));
      String db = conf.remove("db");
      conf.remove("port");
      TransportConf tc = new TransportConf("shuffle", new MapConfigProvider(conf));
      handler = new ExternalBlockHandler(tc, db == null ? null : new File(db));
      context = new ShuffleTransportContext(tc, handler, true);
      List<TransportServerBootstrap> boots = new ArrayList<>();
      if (authOn(conf)) {
        boots.add(new AuthServerBootstrap(tc, keyHolder(conf.get("spark.authenticate.secret"))));
      }
      server = context.createServer("127.0.0.1", port, boots);
    }

    void close() {
      server.close();
      context.close();
      handler.close();
    }
  }

  /** Spark's ExternalBlockStoreClient, opened up to send raw messages. */
  private static final class Store extends ExternalBlockStoreClient {
    Store(TransportConf conf, SecretKeyHolder keys, boolean auth) {
      super(conf, keys, auth, TIMEOUT_MS);
    }

    TransportClient connect(String host, int port) throws Exception {
      return clientFactory.createClient(host, port);
    }

    String app() {
      return appId;
    }
  }

  private static final class Client {
    final TransportConf conf;
    final Store store;
    final File tmp;
    final Set<DownloadFile> downloads = ConcurrentHashMap.newKeySet();

    Client(Map<String, String> opts) throws Exception {
      Map<String, String> c = new HashMap<>(opts);
      String app = c.remove("app");
      conf = new TransportConf("shuffle", new MapConfigProvider(c));
      boolean auth = authOn(c);
      store = new Store(conf, auth ? keyHolder(c.get("spark.authenticate.secret")) : null, auth);
      store.init(app);
      tmp = Files.createTempDirectory("ember-shuffle-peer").toFile();
    }

    List<String> fetch(String host, int port, String exec, boolean toDisk, String[] ids)
        throws Exception {
      Map<String, String> results = new ConcurrentHashMap<>();
      CountDownLatch done = new CountDownLatch(ids.length);
      Set<String> seen = ConcurrentHashMap.newKeySet();
      BlockFetchingListener l = new BlockFetchingListener() {
        @Override
        public void onBlockFetchSuccess(String id, ManagedBuffer data) {
          String r;
          try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            long size = data.size(); // a Netty buffer's shrinks as it is read
            long n = 0;
            try (InputStream in = data.createInputStream()) {
              byte[] buf = new byte[8192];
              for (int k; (k = in.read(buf)) > 0; ) {
                md.update(buf, 0, k);
                n += k;
              }
            }
            if (n != size) {
              throw new IllegalStateException("read " + n + " bytes of " + size);
            }
            r = "OK:" + n + ":" + hex(md.digest()) + ":" + data.getClass().getSimpleName();
          } catch (Exception e) {
            r = "FAIL:reading the block: " + describe(e);
          }
          finish(id, r);
        }

        @Override
        public void onBlockFetchFailure(String id, Throwable e) {
          finish(id, "FAIL:" + describe(e));
        }

        private void finish(String id, String r) {
          if (seen.add(id)) {
            results.put(id, r);
            done.countDown();
          } else {
            results.put(id, "FAIL:called twice");
          }
        }
      };
      DownloadFileManager files = null;
      if (toDisk) {
        files = new DownloadFileManager() {
          @Override
          public DownloadFile createTempFile(TransportConf tc) {
            try {
              return new SimpleDownloadFile(File.createTempFile("block", ".tmp", tmp), tc);
            } catch (Exception e) {
              throw new RuntimeException(e);
            }
          }

          @Override
          public boolean registerTempFileToClean(DownloadFile file) {
            return downloads.add(file);
          }
        };
      }
      store.fetchBlocks(host, port, exec, ids, l, files);
      if (!done.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("fetch timed out with " + done.getCount() + " blocks outstanding");
      }
      List<String> res = new ArrayList<>();
      for (String id : ids) {
        res.add(id + "=" + results.get(id));
      }
      return res;
    }

    List<String> fetchParallel(String host, int port, String exec, int n, String[] ids)
        throws Exception {
      java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(n);
      try {
        List<java.util.concurrent.Future<List<String>>> all = new ArrayList<>();
        for (int k = 0; k < n; k++) {
          all.add(pool.submit(() -> fetch(host, port, exec, false, ids)));
        }
        List<String> res = new ArrayList<>();
        for (int k = 0; k < n; k++) {
          for (String r : all.get(k).get(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            res.add(k + ":" + r);
          }
        }
        return res;
      } finally {
        pool.shutdownNow();
      }
    }

    List<String> diagnose(String host, int port, String exec, int shuffle, long map, int reduce,
        long checksum, String algorithm) {
      Cause byClient = store.diagnoseCorruption(host, port, exec, shuffle, map, reduce, checksum,
          algorithm);
      String raw;
      try {
        TransportClient tc = store.connect(host, port);
        java.nio.ByteBuffer resp = tc.sendRpcSync(
            new DiagnoseCorruption(store.app(), exec, shuffle, map, reduce, checksum, algorithm)
                .toByteBuffer(), TIMEOUT_MS);
        BlockTransferMessage m = BlockTransferMessage.Decoder.fromByteBuffer(resp);
        raw = ((CorruptionCause) m).cause.name();
      } catch (Exception e) {
        raw = "FAIL:" + describe(e);
      }
      return List.of(byClient.name(), raw);
    }

    List<String> push(String host, int port, String[] ids) throws Exception {
      Map<String, String> results = new ConcurrentHashMap<>();
      CountDownLatch done = new CountDownLatch(ids.length);
      ManagedBuffer[] bufs = new ManagedBuffer[ids.length];
      for (int i = 0; i < ids.length; i++) {
        byte[] b = new byte[1024];
        Arrays.fill(b, (byte) i);
        bufs[i] = new org.apache.spark.network.buffer.NioManagedBuffer(java.nio.ByteBuffer.wrap(b));
      }
      store.pushBlocks(host, port, ids, bufs, new org.apache.spark.network.shuffle.BlockPushingListener() {
        @Override
        public void onBlockPushSuccess(String id, ManagedBuffer data) {
          if (results.putIfAbsent(id, "OK") == null) {
            done.countDown();
          }
        }

        @Override
        public void onBlockPushFailure(String id, Throwable e) {
          if (results.putIfAbsent(id, "FAIL:" + describe(e)) == null) {
            done.countDown();
          }
        }
      });
      if (!done.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("push timed out with " + done.getCount() + " blocks outstanding");
      }
      List<String> res = new ArrayList<>();
      for (String id : ids) {
        res.add(id + "=" + results.get(id));
      }
      return res;
    }

    List<String> mergedMeta(String host, int port, int shuffle, int mergeId, int reduce)
        throws Exception {
      CompletableFuture<String> fut = new CompletableFuture<>();
      store.getMergedBlockMeta(host, port, shuffle, mergeId, reduce,
          new org.apache.spark.network.shuffle.MergedBlocksMetaListener() {
            @Override
            public void onSuccess(int s, int m, int r, org.apache.spark.network.shuffle.MergedBlockMeta meta) {
              fut.complete("OK:" + meta.getNumChunks());
            }

            @Override
            public void onFailure(int s, int m, int r, Throwable e) {
              fut.complete("FAIL:" + describe(e));
            }
          });
      return List.of(fut.get(TIMEOUT_MS, TimeUnit.MILLISECONDS));
    }

    String chunk(String host, int port, long stream, int index) throws Exception {
      CompletableFuture<String> fut = new CompletableFuture<>();
      store.connect(host, port).fetchChunk(stream, index,
          new org.apache.spark.network.client.ChunkReceivedCallback() {
            @Override
            public void onSuccess(int chunkIndex, ManagedBuffer buf) {
              try {
                java.nio.ByteBuffer nb = buf.nioByteBuffer();
                byte[] c = new byte[nb.remaining()];
                nb.get(c);
                fut.complete("OK:" + c.length + ":" + hex(MessageDigest.getInstance("SHA-256").digest(c)));
              } catch (Exception e) {
                fut.complete("FAIL:reading the chunk: " + describe(e));
              }
            }

            @Override
            public void onFailure(int chunkIndex, Throwable e) {
              fut.complete("FAIL:" + describe(e));
            }
          });
      return fut.get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }

    List<String> raw(String host, int port, String payload, boolean noChunks) throws Exception {
      TransportClient tc = store.connect(host, port);
      java.nio.ByteBuffer resp;
      try {
        resp = tc.sendRpcSync(java.nio.ByteBuffer.wrap(unhex(payload)), TIMEOUT_MS);
      } catch (Exception e) {
        return List.of("FAIL:" + describe(e));
      }
      byte[] b = new byte[resp.remaining()];
      resp.duplicate().get(b);
      List<String> res = new ArrayList<>();
      res.add("OK:" + hex(b));
      BlockTransferMessage m;
      try {
        m = BlockTransferMessage.Decoder.fromByteBuffer(resp);
      } catch (Exception e) {
        return res; // not a message (RegisterExecutor's empty answer)
      }
      if (noChunks || !(m instanceof org.apache.spark.network.shuffle.protocol.StreamHandle)) {
        return res;
      }
      org.apache.spark.network.shuffle.protocol.StreamHandle h =
          (org.apache.spark.network.shuffle.protocol.StreamHandle) m;
      String[] chunks = new String[h.numChunks];
      CountDownLatch done = new CountDownLatch(h.numChunks);
      for (int i = 0; i < h.numChunks; i++) {
        final int idx = i;
        tc.fetchChunk(h.streamId, i, new org.apache.spark.network.client.ChunkReceivedCallback() {
          @Override
          public void onSuccess(int chunkIndex, ManagedBuffer buf) {
            try {
              java.nio.ByteBuffer nb = buf.nioByteBuffer();
              byte[] c = new byte[nb.remaining()];
              nb.get(c);
              chunks[idx] = "OK:" + c.length + ":" + hex(MessageDigest.getInstance("SHA-256").digest(c));
            } catch (Exception e) {
              chunks[idx] = "FAIL:reading the chunk: " + describe(e);
            }
            done.countDown();
          }

          @Override
          public void onFailure(int chunkIndex, Throwable e) {
            chunks[idx] = "FAIL:" + describe(e);
            done.countDown();
          }
        });
      }
      if (!done.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("chunk fetch timed out");
      }
      res.addAll(Arrays.asList(chunks));
      return res;
    }

    void close() {
      store.close();
      for (DownloadFile f : downloads) {
        f.delete();
      }
      File[] left = tmp.listFiles();
      if (left != null) {
        for (File f : left) {
          f.delete();
        }
      }
      tmp.delete();
    }
  }

  private static byte[] unhex(String s) {
    byte[] b = new byte[s.length() / 2];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
    }
    return b;
  }

  private static String hex(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (byte x : b) {
      s.append(String.format("%02x", x & 0xff));
    }
    return s.toString();
  }
}
