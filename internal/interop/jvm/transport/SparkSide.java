package ember.interop.transport;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.epoll.Epoll;
import org.roaringbitmap.RoaringBitmap;
import org.apache.spark.network.TransportContext;
import org.apache.spark.network.buffer.FileSegmentManagedBuffer;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.buffer.NioManagedBuffer;
import org.apache.spark.network.client.ChunkReceivedCallback;
import org.apache.spark.network.client.MergedBlockMetaResponseCallback;
import org.apache.spark.network.client.RpcResponseCallback;
import org.apache.spark.network.client.StreamCallback;
import org.apache.spark.network.client.StreamCallbackWithID;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.client.TransportClientFactory;
import org.apache.spark.network.protocol.Encoders;
import org.apache.spark.network.protocol.MergedBlockMetaRequest;
import org.apache.spark.network.server.OneForOneStreamManager;
import org.apache.spark.network.server.RpcHandler;
import org.apache.spark.network.server.StreamManager;
import org.apache.spark.network.server.TransportServer;
import org.apache.spark.network.util.MapConfigProvider;
import org.apache.spark.network.util.TransportConf;

/**
 * One Spark transport stack in one io mode: a TransportContext with the
 * interop handler, a TransportServer and a TransportClientFactory.
 */
final class SparkSide {
  /** Requests whose body starts with this are commands, not echoes. */
  static final String CMD = "ember-interop:";
  static final long WAIT_SECONDS = 120;

  final String mode;
  final TransportConf conf;
  final Handler handler;
  final TransportContext context;
  private TransportServer server;
  private TransportClientFactory factory;

  SparkSide(String mode) {
    this.mode = mode;
    Map<String, String> m = new HashMap<>();
    m.put("spark.test.io.mode", mode);
    m.put("spark.test.io.serverThreads", "2");
    m.put("spark.test.io.clientThreads", "2");
    m.put("spark.test.io.connectionTimeout", "120s");
    this.conf = new TransportConf("test", new MapConfigProvider(m));
    this.handler = new Handler(conf);
    this.context = new TransportContext(conf, handler);
  }

  synchronized int startServer() {
    if (server == null) {
      server = context.createServer("127.0.0.1", 0, Collections.emptyList());
    }
    return server.getPort();
  }

  synchronized Conn connect(int port) throws Exception {
    if (factory == null) {
      factory = context.createClientFactory();
    }
    return new Conn(factory.createClient("127.0.0.1", port));
  }

  int numStreams() {
    return handler.streams.numStreamStates();
  }

  String info() {
    return Epoll.isAvailable() + " " + handler.channelClass.get();
  }

  synchronized void close() {
    if (factory != null) {
      factory.close();
    }
    if (server != null) {
      server.close();
    }
    context.close();
  }

  static String sha(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  static byte[] random(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  /**
   * The server side: echoes RPCs, fails or opens a file-backed stream on
   * command, records one-way messages, serves files as named streams and
   * hashes uploaded streams.
   */
  static final class Handler extends RpcHandler {
    final TransportConf conf;
    final FileStreams streams;
    final List<String> oneWay = Collections.synchronizedList(new ArrayList<>());
    /** The channel class of the connection that sent the last RPC. */
    final AtomicReference<String> channelClass = new AtomicReference<>("none");

    Handler(TransportConf conf) {
      this.conf = conf;
      this.streams = new FileStreams(conf);
    }

    @Override
    public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
      channelClass.set(client.getChannel().getClass().getName());
      byte[] req = bytes(message);
      String text = new String(req, StandardCharsets.ISO_8859_1);
      if (text.startsWith(CMD + "fail:")) {
        callback.onFailure(new IllegalStateException(
            new String(req, StandardCharsets.UTF_8).substring((CMD + "fail:").length())));
        return;
      }
      if (text.startsWith(CMD + "open:")) {
        // open:<chunkSize>:<path> registers the file as a stream of
        // chunkSize-byte file segments, tied to this connection.
        String[] f = text.substring((CMD + "open:").length()).split(":", 2);
        long chunk = Long.parseLong(f[0]);
        File file = new File(f[1]);
        List<ManagedBuffer> chunks = new ArrayList<>();
        for (long off = 0; off < file.length(); off += chunk) {
          chunks.add(new FileSegmentManagedBuffer(conf, file, off, Math.min(chunk, file.length() - off)));
        }
        long id = streams.registerStream("interop", chunks.iterator(), client.getChannel());
        callback.onSuccess(ByteBuffer.wrap((id + " " + chunks.size()).getBytes(StandardCharsets.UTF_8)));
        return;
      }
      callback.onSuccess(ByteBuffer.wrap(req));
    }

    @Override
    public void receive(TransportClient client, ByteBuffer message) {
      oneWay.add(sha(bytes(message)));
    }

    @Override
    public StreamCallbackWithID receiveStream(TransportClient client, ByteBuffer meta, RpcResponseCallback callback) {
      String id = new String(bytes(meta), StandardCharsets.UTF_8);
      if (id.startsWith("fail-setup")) {
        throw new IllegalStateException("upload refused: " + id);
      }
      boolean failData = id.startsWith("fail-data");
      final MessageDigest md;
      try {
        md = MessageDigest.getInstance("SHA-256");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
      return new StreamCallbackWithID() {
        long n;

        @Override
        public String getID() {
          return id;
        }

        @Override
        public void onData(String streamId, ByteBuffer buf) throws java.io.IOException {
          if (failData) {
            throw new java.io.IOException("upload data refused: " + id);
          }
          n += buf.remaining();
          md.update(buf);
        }

        @Override
        public void onComplete(String streamId) {}

        @Override
        public void onFailure(String streamId, Throwable cause) {}

        @Override
        public ByteBuffer getCompletionResponse() {
          String r = id + " " + n + " " + HexFormat.of().formatHex(md.digest());
          return ByteBuffer.wrap(r.getBytes(StandardCharsets.UTF_8));
        }
      };
    }

    @Override
    public StreamManager getStreamManager() {
      return streams;
    }

    /**
     * Merged block meta: two chunks, bitmaps {shuffleId} and
     * {shuffleMergeId, reduceId}; app id "fail" fails with a known text.
     */
    @Override
    public MergedBlockMetaReqHandler getMergedBlockMetaReqHandler() {
      return (client, req, callback) -> {
        if (req.appId.equals("fail")) {
          callback.onFailure(new IllegalStateException("no merged block meta for " + req.appId));
          return;
        }
        ByteBuf b = Unpooled.buffer();
        Encoders.Bitmaps.encode(b, RoaringBitmap.bitmapOf(req.shuffleId));
        Encoders.Bitmaps.encode(b, RoaringBitmap.bitmapOf(req.shuffleMergeId, req.reduceId));
        byte[] meta = new byte[b.readableBytes()];
        b.readBytes(meta);
        callback.onSuccess(2, new NioManagedBuffer(ByteBuffer.wrap(meta)));
      };
    }

    String oneWays() {
      synchronized (oneWay) {
        return oneWay.size() + " " + (oneWay.isEmpty() ? "-" : String.join(",", oneWay));
      }
    }
  }

  /**
   * Registered chunk streams as Spark keeps them, plus named streams: an
   * absolute path opens that file (a missing file is "not found").
   */
  static final class FileStreams extends OneForOneStreamManager {
    private final TransportConf conf;

    FileStreams(TransportConf conf) {
      this.conf = conf;
    }

    @Override
    public void checkAuthorization(TransportClient client, String streamId) {
      // Spark 4.1 checks named streams too, parsing them as chunk ids;
      // file paths belong to no application.
      if (!streamId.startsWith("/")) {
        super.checkAuthorization(client, streamId);
      }
    }

    @Override
    public void streamBeingSent(String streamId) {
      if (!streamId.startsWith("/")) {
        super.streamBeingSent(streamId);
      }
    }

    @Override
    public void streamSent(String streamId) {
      if (!streamId.startsWith("/")) {
        super.streamSent(streamId);
      }
    }

    @Override
    public ManagedBuffer openStream(String streamId) {
      if (!streamId.startsWith("/")) {
        return super.openStream(streamId);
      }
      File f = new File(streamId);
      if (!f.isFile()) {
        return null;
      }
      return new FileSegmentManagedBuffer(conf, f, 0, f.length());
    }
  }

  /** One client connection and the operations the tests drive over it. */
  static final class Conn {
    final TransportClient client;

    Conn(TransportClient client) {
      this.client = client;
    }

    String rpc(int size, long seed) {
      byte[] req = random(size, seed);
      byte[] reply = bytes(client.sendRpcSync(ByteBuffer.wrap(req), WAIT_SECONDS * 1000));
      return "OK " + reply.length + " " + sha(req) + " " + sha(reply);
    }

    String rpcText(byte[] req) throws Exception {
      CompletableFuture<byte[]> f = new CompletableFuture<>();
      client.sendRpc(ByteBuffer.wrap(req), new RpcResponseCallback() {
        @Override
        public void onSuccess(ByteBuffer response) {
          f.complete(bytes(response));
        }

        @Override
        public void onFailure(Throwable e) {
          f.completeExceptionally(e);
        }
      });
      try {
        return "OK " + Peer.b64(f.get(WAIT_SECONDS, TimeUnit.SECONDS));
      } catch (java.util.concurrent.ExecutionException e) {
        Throwable c = e.getCause();
        return "FAIL " + c.getClass().getName() + " " + Peer.b64(String.valueOf(c.getMessage()));
      }
    }

    String meta(String appId, int shuffleId, int mergeId, int reduceId) throws Exception {
      CompletableFuture<String> f = new CompletableFuture<>();
      client.sendMergedBlockMetaReq(appId, shuffleId, mergeId, reduceId, new MergedBlockMetaResponseCallback() {
        @Override
        public void onSuccess(int numChunks, ManagedBuffer buffer) {
          try {
            f.complete(numChunks + " " + HexFormat.of().formatHex(bytes(buffer.nioByteBuffer())));
          } catch (Exception e) {
            f.completeExceptionally(e);
          }
        }

        @Override
        public void onFailure(Throwable e) {
          f.completeExceptionally(e);
        }
      });
      try {
        return "OK " + f.get(WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        Throwable c = e.getCause();
        return "FAIL " + c.getClass().getName() + " " + Peer.b64(String.valueOf(c.getMessage()));
      }
    }

    String oneWay(int size, long seed) {
      byte[] req = random(size, seed);
      client.send(ByteBuffer.wrap(req));
      return "OK " + sha(req);
    }

    String fetch(long streamId, int numChunks) throws Exception {
      byte[][] got = new byte[numChunks][];
      AtomicReference<String> failure = new AtomicReference<>();
      CountDownLatch done = new CountDownLatch(numChunks);
      for (int i = 0; i < numChunks; i++) {
        client.fetchChunk(streamId, i, new ChunkReceivedCallback() {
          @Override
          public void onSuccess(int chunkIndex, ManagedBuffer buffer) {
            try {
              got[chunkIndex] = bytes(buffer.nioByteBuffer());
            } catch (Exception e) {
              failure.compareAndSet(null, chunkIndex + " " + Peer.b64(e.toString()));
            }
            done.countDown();
          }

          @Override
          public void onFailure(int chunkIndex, Throwable e) {
            failure.compareAndSet(null, chunkIndex + " " + Peer.b64(String.valueOf(e.getMessage())));
            done.countDown();
          }
        });
      }
      if (!done.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
        return "ERR " + Peer.b64("chunk fetch timed out");
      }
      if (failure.get() != null) {
        return "FAIL " + failure.get();
      }
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      long total = 0;
      String[] lens = new String[numChunks];
      for (int i = 0; i < numChunks; i++) {
        md.update(got[i]);
        total += got[i].length;
        lens[i] = Integer.toString(got[i].length);
      }
      return "OK " + total + " " + HexFormat.of().formatHex(md.digest()) + " "
          + (numChunks == 0 ? "-" : String.join(",", Arrays.asList(lens)));
    }

    String stream(String id) throws Exception {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      long[] n = new long[1];
      CompletableFuture<Void> f = new CompletableFuture<>();
      client.stream(id, new StreamCallback() {
        @Override
        public void onData(String streamId, ByteBuffer buf) {
          n[0] += buf.remaining();
          md.update(buf);
        }

        @Override
        public void onComplete(String streamId) {
          f.complete(null);
        }

        @Override
        public void onFailure(String streamId, Throwable cause) {
          f.completeExceptionally(cause);
        }
      });
      try {
        f.get(WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        return "FAIL " + Peer.b64(String.valueOf(e.getCause().getMessage()));
      }
      // The callbacks ran on the event loop; the future orders them
      // before this read.
      return "OK " + n[0] + " " + HexFormat.of().formatHex(md.digest());
    }

    /** Starts a stream read; the future completes with "len:sha". */
    CompletableFuture<String> startStream(String id) throws Exception {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      long[] n = new long[1];
      CompletableFuture<String> f = new CompletableFuture<>();
      client.stream(id, new StreamCallback() {
        @Override
        public void onData(String streamId, ByteBuffer buf) {
          n[0] += buf.remaining();
          md.update(buf);
        }

        @Override
        public void onComplete(String streamId) {
          f.complete(n[0] + ":" + HexFormat.of().formatHex(md.digest()));
        }

        @Override
        public void onFailure(String streamId, Throwable cause) {
          f.completeExceptionally(cause);
        }
      });
      return f;
    }

    static String outcome(CompletableFuture<String> f) throws Exception {
      try {
        return f.get(WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        return "FAIL:" + Peer.b64(String.valueOf(e.getCause().getMessage()));
      }
    }

    /**
     * Requests all the named streams before reading any answer (stream
     * answers are matched in request order); answers "len:sha" or
     * "FAIL:b64(message)" per stream, comma-separated.
     */
    String streams(String[] ids) throws Exception {
      List<CompletableFuture<String>> fs = new ArrayList<>();
      for (String id : ids) {
        fs.add(startStream(id));
      }
      List<String> out = new ArrayList<>();
      for (CompletableFuture<String> f : fs) {
        out.add(outcome(f));
      }
      return "OK " + String.join(",", out);
    }

    /**
     * Puts n RPCs of size bytes, a whole chunk fetch and a stream of path on
     * the connection at once; answers how many RPC replies were right, then
     * "len:sha" of the fetched chunks and of the stream.
     */
    String mixed(int n, int size, long streamId, int numChunks, String path) throws Exception {
      AtomicInteger correct = new AtomicInteger();
      CountDownLatch rpcs = new CountDownLatch(n);
      byte[][] chunks = new byte[numChunks][];
      CountDownLatch fetched = new CountDownLatch(numChunks);
      AtomicReference<String> failure = new AtomicReference<>();
      CompletableFuture<String> stream = null;
      for (int i = 0; i < Math.max(n, numChunks); i++) {
        if (i < n) {
          byte[] req = random(size, 7000 + i);
          client.sendRpc(ByteBuffer.wrap(req), new RpcResponseCallback() {
            @Override
            public void onSuccess(ByteBuffer response) {
              if (Arrays.equals(bytes(response), req)) {
                correct.incrementAndGet();
              }
              rpcs.countDown();
            }

            @Override
            public void onFailure(Throwable e) {
              failure.compareAndSet(null, "rpc: " + e);
              rpcs.countDown();
            }
          });
        }
        if (i < numChunks) {
          client.fetchChunk(streamId, i, new ChunkReceivedCallback() {
            @Override
            public void onSuccess(int chunkIndex, ManagedBuffer buffer) {
              try {
                chunks[chunkIndex] = bytes(buffer.nioByteBuffer());
              } catch (Exception e) {
                failure.compareAndSet(null, "chunk: " + e);
              }
              fetched.countDown();
            }

            @Override
            public void onFailure(int chunkIndex, Throwable e) {
              failure.compareAndSet(null, "chunk " + chunkIndex + ": " + e);
              fetched.countDown();
            }
          });
        }
        if (i == n / 2) {
          stream = startStream(path);
        }
      }
      if (stream == null) {
        stream = startStream(path);
      }
      if (!rpcs.await(WAIT_SECONDS, TimeUnit.SECONDS) || !fetched.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
        return "ERR " + Peer.b64("mixed traffic timed out");
      }
      String streamed = outcome(stream);
      if (failure.get() != null) {
        return "FAIL " + Peer.b64(failure.get());
      }
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      long total = 0;
      for (byte[] c : chunks) {
        md.update(c);
        total += c.length;
      }
      return "OK " + correct.get() + " " + total + ":" + HexFormat.of().formatHex(md.digest()) + " " + streamed;
    }

    String upload(byte[] meta, int size, long seed) throws Exception {
      byte[] body = random(size, seed);
      CompletableFuture<byte[]> f = new CompletableFuture<>();
      client.uploadStream(new NioManagedBuffer(ByteBuffer.wrap(meta)), new NioManagedBuffer(ByteBuffer.wrap(body)),
          new RpcResponseCallback() {
            @Override
            public void onSuccess(ByteBuffer response) {
              f.complete(bytes(response));
            }

            @Override
            public void onFailure(Throwable e) {
              f.completeExceptionally(e);
            }
          });
      try {
        return "OK " + sha(body) + " " + Peer.b64(f.get(WAIT_SECONDS, TimeUnit.SECONDS));
      } catch (java.util.concurrent.ExecutionException e) {
        return "FAIL " + Peer.b64(String.valueOf(e.getCause().getMessage()));
      }
    }

    String concurrent(int n, int size) throws Exception {
      AtomicInteger answered = new AtomicInteger();
      AtomicInteger correct = new AtomicInteger();
      AtomicInteger failed = new AtomicInteger();
      CountDownLatch done = new CountDownLatch(n);
      for (int i = 0; i < n; i++) {
        byte[] req = random(size, i);
        ByteBuffer.wrap(req).putInt(i);
        client.sendRpc(ByteBuffer.wrap(req), new RpcResponseCallback() {
          @Override
          public void onSuccess(ByteBuffer response) {
            answered.incrementAndGet();
            if (Arrays.equals(bytes(response), req)) {
              correct.incrementAndGet();
            }
            done.countDown();
          }

          @Override
          public void onFailure(Throwable e) {
            answered.incrementAndGet();
            failed.incrementAndGet();
            done.countDown();
          }
        });
      }
      done.await(WAIT_SECONDS, TimeUnit.SECONDS);
      return "OK " + answered.get() + " " + correct.get() + " " + failed.get();
    }
  }
}
