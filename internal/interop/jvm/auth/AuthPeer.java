package ember.interop.auth;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.apache.spark.network.TransportContext;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.buffer.NioManagedBuffer;
import org.apache.spark.network.client.ChunkReceivedCallback;
import org.apache.spark.network.client.RpcResponseCallback;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.client.TransportClientBootstrap;
import org.apache.spark.network.client.TransportClientFactory;
import org.apache.spark.network.crypto.AuthClientBootstrap;
import org.apache.spark.network.crypto.AuthServerBootstrap;
import org.apache.spark.network.sasl.SaslClientBootstrap;
import org.apache.spark.network.sasl.SaslServerBootstrap;
import org.apache.spark.network.sasl.SecretKeyHolder;
import org.apache.spark.network.server.TransportServer;
import org.apache.spark.network.server.TransportServerBootstrap;
import org.apache.spark.network.util.MapConfigProvider;
import org.apache.spark.network.util.TransportConf;

/**
 * Spark's authentication stack, driven over stdin/stdout for Ember's auth
 * interop tests: one command per line, one answer per line.
 *
 * <p>A configuration travels as Base64 of "key=value" lines; it becomes a
 * {@link TransportConf} (module "rpc") over a {@link MapConfigProvider}.
 * With spark.authenticate=true, servers get {@link AuthServerBootstrap}
 * when spark.network.crypto.enabled=true and {@link SaslServerBootstrap}
 * otherwise; clients {@link AuthClientBootstrap} or
 * {@link SaslClientBootstrap} alike. Every app id has the one secret given.
 *
 * <pre>
 * SERVER b64(conf) secret         -> OK srv port
 * FILE srv b64(path) appId        -> OK streamId        (one chunk: the whole file)
 * COUNT srv                       -> OK rpcs uploads    (what reached the handler)
 * CLIENT b64(conf) secret appId port -> OK cli | FAIL b64(error chain)
 * RPC cli size seed b64(marker)   -> OK len | FAIL b64(error)     (echo checked here)
 * FETCH cli streamId chunk        -> OK len sha256 | FAIL b64(error)
 * UPLOAD cli size seed            -> OK match | FAIL b64(error)   (reply is the body's sha256)
 * CLOSE cli                       -> OK
 * GCMSEAL keyHex size             -> OK b64(record)  (Spark's GCM cipher seals pattern(size))
 * GCMOPEN keyHex b64(wire) seed   -> OK len sha256 | FAIL b64(error)  (Spark's GCM cipher opens wire)
 * QUIT                            -> OK, then exit
 * </pre>
 *
 * Answers are OK, FAIL (the operation failed) or ERR (the harness broke).
 * Spark's logs go to stderr.
 */
public final class AuthPeer {
  private final List<AuthServer> servers = new ArrayList<>();
  private final Map<Integer, Client> clients = new HashMap<>();
  private int nextClient = 1;

  private record Client(TransportContext ctx, TransportClientFactory factory, TransportClient client) {
    void close() {
      client.close();
      factory.close();
      ctx.close();
    }
  }

  public static void main(String[] args) throws Exception {
    // Spark 4.1's PEM TLS client makes its SSLEngine without the peer's
    // host, and Netty 4.2 verifies endpoints (HTTPS) by default, so the
    // handshake fails with "Hostname or IP address is undefined" even
    // between two Sparks. Switch the check off, as a deployment must.
    System.setProperty("io.netty.handler.ssl.defaultEndpointVerificationAlgorithm", "NONE");
    PrintStream answers = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    AuthPeer p = new AuthPeer();
    answers.println("READY");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] f = line.trim().split(" ");
      if (f[0].isEmpty()) {
        continue;
      }
      if (f[0].equals("QUIT")) {
        break;
      }
      String answer;
      try {
        answer = p.run(f);
      } catch (Throwable t) {
        t.printStackTrace();
        answer = "ERR " + b64(chain(t));
      }
      answers.println(answer);
    }
    p.closeAll();
    answers.println("OK");
    System.exit(0);
  }

  private String run(String[] f) throws Exception {
    switch (f[0]) {
      case "SERVER": {
        Map<String, String> conf = parseConf(f[1]);
        AuthServer s = new AuthServer(transportConf(conf), authOn(conf), crypto(conf), holder(f[2]));
        servers.add(s);
        return "OK " + (servers.size() - 1) + " " + s.port();
      }
      case "FILE":
        return "OK " + server(f[1]).registerFile(new File(new String(unb64(f[2]), StandardCharsets.UTF_8)), f[3]);
      case "COUNT": {
        AuthServer s = server(f[1]);
        return "OK " + s.handler.rpcs.get() + " " + s.handler.uploads.get();
      }
      case "CLIENT":
        return connect(parseConf(f[1]), f[2], f[3], Integer.parseInt(f[4]));
      case "RPC":
        return rpc(client(f[1]), Integer.parseInt(f[2]), Long.parseLong(f[3]), unb64(f[4]));
      case "FETCH":
        return fetch(client(f[1]), Long.parseLong(f[2]), Integer.parseInt(f[3]));
      case "UPLOAD":
        return upload(client(f[1]), Integer.parseInt(f[2]), Long.parseLong(f[3]));
      case "GCMSEAL":
        return "OK " + Base64.getEncoder().encodeToString(GcmVectors.seal(f[1], Integer.parseInt(f[2])));
      case "GCMOPEN":
        try {
          return "OK " + GcmVectors.open(f[1], unb64(f[2]), Long.parseLong(f[3]));
        } catch (Exception e) {
          return "FAIL " + b64(chain(e));
        }
      case "CLOSE": {
        Client c = clients.remove(Integer.parseInt(f[1]));
        if (c != null) {
          c.close();
        }
        return "OK";
      }
      default:
        return "ERR " + b64("unknown command " + f[0]);
    }
  }

  private String connect(Map<String, String> conf, String secret, String appId, int port) {
    TransportConf tc = transportConf(conf);
    TransportContext ctx = new TransportContext(tc, new AuthHandler(tc), false);
    List<TransportClientBootstrap> boots = new ArrayList<>();
    if (authOn(conf)) {
      boots.add(crypto(conf) ? new AuthClientBootstrap(tc, appId, holder(secret))
          : new SaslClientBootstrap(tc, appId, holder(secret)));
    }
    TransportClientFactory factory = ctx.createClientFactory(boots);
    try {
      TransportClient c = factory.createUnmanagedClient("127.0.0.1", port);
      int no = nextClient++;
      clients.put(no, new Client(ctx, factory, c));
      return "OK " + no;
    } catch (Throwable t) {
      factory.close();
      ctx.close();
      return "FAIL " + b64(chain(t));
    }
  }

  private static String rpc(TransportClient c, int size, long seed, byte[] marker) {
    byte[] body = payload(marker, size, seed);
    try {
      ByteBuffer reply = c.sendRpcSync(ByteBuffer.wrap(body), 60_000);
      byte[] got = new byte[reply.remaining()];
      reply.get(got);
      if (!java.util.Arrays.equals(got, body)) {
        return "FAIL " + b64("echo differs: sent " + body.length + " bytes, got " + got.length);
      }
      return "OK " + got.length;
    } catch (Throwable t) {
      return "FAIL " + b64(chain(t));
    }
  }

  private static String fetch(TransportClient c, long streamId, int chunk) throws Exception {
    CompletableFuture<String> done = new CompletableFuture<>();
    c.fetchChunk(streamId, chunk, new ChunkReceivedCallback() {
      @Override
      public void onSuccess(int chunkIndex, ManagedBuffer buffer) {
        try {
          ByteBuffer b = buffer.nioByteBuffer();
          done.complete("OK " + b.remaining() + " " + sha256(b));
        } catch (Throwable t) {
          done.complete("FAIL " + b64(chain(t)));
        }
      }

      @Override
      public void onFailure(int chunkIndex, Throwable e) {
        done.complete("FAIL " + b64(chain(e)));
      }
    });
    return done.get(60, TimeUnit.SECONDS);
  }

  private static String upload(TransportClient c, int size, long seed) throws Exception {
    byte[] body = payload(new byte[0], size, seed);
    String want = sha256(ByteBuffer.wrap(body));
    CompletableFuture<String> done = new CompletableFuture<>();
    c.uploadStream(new NioManagedBuffer(ByteBuffer.wrap("upload".getBytes(StandardCharsets.UTF_8))),
        new NioManagedBuffer(ByteBuffer.wrap(body)), new RpcResponseCallback() {
          @Override
          public void onSuccess(ByteBuffer response) {
            String got = StandardCharsets.UTF_8.decode(response).toString();
            done.complete(got.equals(want) ? "OK match"
                : "FAIL " + b64("server hashed " + got + ", sent " + want));
          }

          @Override
          public void onFailure(Throwable e) {
            done.complete("FAIL " + b64(chain(e)));
          }
        });
    return done.get(60, TimeUnit.SECONDS);
  }

  /** marker, then pseudo-random bytes up to size. */
  static byte[] payload(byte[] marker, int size, long seed) {
    byte[] b = new byte[Math.max(size, marker.length)];
    new Random(seed).nextBytes(b);
    System.arraycopy(marker, 0, b, 0, marker.length);
    return b;
  }

  static TransportConf transportConf(Map<String, String> conf) {
    return new TransportConf("rpc", new MapConfigProvider(conf));
  }

  static boolean authOn(Map<String, String> conf) {
    return Boolean.parseBoolean(conf.getOrDefault("spark.authenticate", "false"));
  }

  static boolean crypto(Map<String, String> conf) {
    return Boolean.parseBoolean(conf.getOrDefault("spark.network.crypto.enabled", "false"));
  }

  /** Every app id has the one secret; the SASL user is Spark's RPC user. */
  static SecretKeyHolder holder(String secret) {
    return new SecretKeyHolder() {
      @Override
      public String getSaslUser(String appId) {
        return "sparkSaslUser";
      }

      @Override
      public String getSecretKey(String appId) {
        return secret;
      }
    };
  }

  static Map<String, String> parseConf(String b64) {
    Map<String, String> m = new HashMap<>();
    for (String kv : new String(unb64(b64), StandardCharsets.UTF_8).split("\n")) {
      int i = kv.indexOf('=');
      if (i > 0) {
        m.put(kv.substring(0, i), kv.substring(i + 1));
      }
    }
    return m;
  }

  private AuthServer server(String id) {
    return servers.get(Integer.parseInt(id));
  }

  private TransportClient client(String id) {
    Client c = clients.get(Integer.parseInt(id));
    if (c == null) {
      throw new IllegalArgumentException("no client " + id);
    }
    return c.client();
  }

  private void closeAll() {
    for (Client c : clients.values()) {
      c.close();
    }
    for (AuthServer s : servers) {
      s.close();
    }
  }

  static String sha256(ByteBuffer b) throws Exception {
    MessageDigest d = MessageDigest.getInstance("SHA-256");
    d.update(b.duplicate());
    return HexFormat.of().formatHex(d.digest());
  }

  /** The messages of t and its causes, joined. */
  static String chain(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (sb.length() > 0) {
        sb.append(" <- ");
      }
      sb.append(c.getClass().getName()).append(": ").append(c.getMessage());
      if (c.getCause() == c) {
        break;
      }
    }
    return sb.toString();
  }

  static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  static byte[] unb64(String s) {
    return s.equals("-") ? new byte[0] : Base64.getDecoder().decode(s);
  }

  /** A Spark transport server with its bootstraps. */
  static final class AuthServer {
    final AuthHandler handler;
    final TransportContext ctx;
    final TransportServer server;

    AuthServer(TransportConf tc, boolean auth, boolean crypto, SecretKeyHolder keys) {
      handler = new AuthHandler(tc);
      ctx = new TransportContext(tc, handler, false);
      List<TransportServerBootstrap> boots = new ArrayList<>();
      if (auth) {
        boots.add(crypto ? new AuthServerBootstrap(tc, keys) : new SaslServerBootstrap(tc, keys));
      }
      server = ctx.createServer("127.0.0.1", 0, boots);
    }

    int port() {
      return server.getPort();
    }

    long registerFile(File f, String appId) {
      return handler.registerFile(f, appId);
    }

    void close() {
      server.close();
      ctx.close();
    }
  }
}
