package ember.interop.transport;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

/**
 * A live Spark transport peer for Ember's interop tests, driven over
 * stdin/stdout with one command per line and one answer per line.
 *
 * <p>Answers start with {@code OK}, {@code FAIL} (the operation failed the
 * way the test may expect, with the error text in Base64) or {@code ERR}
 * (the harness itself went wrong). Free text travels as Base64 so a line
 * never breaks; {@code -} is the empty text.
 *
 * <pre>
 * SERVER mode                    -> OK port            a TransportServer in io mode NIO or EPOLL
 * CONNECT mode port              -> OK clientNo channelClass   a TransportClient from that mode's factory
 * RPC c size seed                -> OK len sha(request) sha(reply)
 * RPCTEXT c b64                  -> OK b64(reply) | FAIL className b64(message)
 * META c appId shuffle merge reduce -> OK numChunks hex(bitmaps) | FAIL className b64(message)
 * ONEWAY c size seed             -> OK sha
 * FETCH c streamId numChunks     -> OK total sha len0,len1,...  | FAIL index b64(message)
 * STREAM c b64(id)               -> OK len sha | FAIL b64(message)
 * STREAMS c b64(id),b64(id),...  -> OK r,r,...  each r = len:sha or FAIL:b64(message); all requested at once
 * MIXED c n size streamId numChunks b64(path)
 *                                -> OK rpcsCorrect len:sha(chunks) r(stream)  all on the wire at once
 * UPLOAD c b64(meta) size seed   -> OK sha(body) b64(reply) | FAIL b64(message)
 *                                   (the server refuses meta "fail-setup..." at once and
 *                                   "fail-data..." at its first bytes)
 * CONCURRENT c n size            -> OK answered correct failed
 * ONEWAYS mode                   -> OK count sha,sha,...   (one-way messages that server received)
 * CLOSE c                        -> OK                 closes the client's connection
 * STREAMSTATES mode              -> OK n               chunk streams registered at that mode's server
 * INFO mode                      -> OK epollAvailable serverChannelClass
 * QUIT                           -> OK, then exit
 * </pre>
 *
 * Spark's own log output goes to stderr: stdout is reserved for answers.
 */
public final class Peer {
  private final PrintStream out;
  private final Map<String, SparkSide> sides = new HashMap<>();
  private final Map<Integer, SparkSide.Conn> clients = new HashMap<>();

  private Peer(PrintStream out) {
    this.out = out;
  }

  public static void main(String[] args) throws Exception {
    // Claim stdout before any logging framework can: everything else
    // printed by the JVM (Spark's and Netty's logs) goes to stderr.
    PrintStream answers = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    Peer p = new Peer(answers);
    answers.println("READY");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      line = line.trim();
      if (line.isEmpty()) {
        continue;
      }
      String[] f = line.split(" ");
      if (f[0].equals("QUIT")) {
        p.closeAll();
        answers.println("OK");
        break;
      }
      String answer;
      try {
        answer = p.run(f);
      } catch (Throwable t) {
        t.printStackTrace();
        answer = "ERR " + b64(t.toString());
      }
      answers.println(answer);
    }
    p.closeAll();
    System.exit(0);
  }

  private String run(String[] f) throws Exception {
    switch (f[0]) {
      case "SERVER": {
        SparkSide s = side(f[1]);
        return "OK " + s.startServer();
      }
      case "CONNECT": {
        SparkSide s = side(f[1]);
        SparkSide.Conn c = s.connect(Integer.parseInt(f[2]));
        int no = clients.size() + 1;
        clients.put(no, c);
        return "OK " + no + " " + c.client.getChannel().getClass().getName();
      }
      case "RPC":
        return conn(f[1]).rpc(Integer.parseInt(f[2]), Long.parseLong(f[3]));
      case "RPCTEXT":
        return conn(f[1]).rpcText(unb64(f[2]));
      case "META":
        return conn(f[1]).meta(f[2], Integer.parseInt(f[3]), Integer.parseInt(f[4]), Integer.parseInt(f[5]));
      case "ONEWAY":
        return conn(f[1]).oneWay(Integer.parseInt(f[2]), Long.parseLong(f[3]));
      case "FETCH":
        return conn(f[1]).fetch(Long.parseLong(f[2]), Integer.parseInt(f[3]));
      case "STREAM":
        return conn(f[1]).stream(new String(unb64(f[2]), StandardCharsets.UTF_8));
      case "STREAMS": {
        String[] ids = f[2].split(",");
        for (int i = 0; i < ids.length; i++) {
          ids[i] = new String(unb64(ids[i]), StandardCharsets.UTF_8);
        }
        return conn(f[1]).streams(ids);
      }
      case "MIXED":
        return conn(f[1]).mixed(Integer.parseInt(f[2]), Integer.parseInt(f[3]), Long.parseLong(f[4]),
            Integer.parseInt(f[5]), new String(unb64(f[6]), StandardCharsets.UTF_8));
      case "UPLOAD":
        return conn(f[1]).upload(unb64(f[2]), Integer.parseInt(f[3]), Long.parseLong(f[4]));
      case "CONCURRENT":
        return conn(f[1]).concurrent(Integer.parseInt(f[2]), Integer.parseInt(f[3]));
      case "ONEWAYS":
        return "OK " + side(f[1]).handler.oneWays();
      case "CLOSE":
        conn(f[1]).client.close();
        return "OK";
      case "STREAMSTATES":
        return "OK " + side(f[1]).numStreams();
      case "INFO":
        return "OK " + side(f[1]).info();
      default:
        return "ERR " + b64("unknown command " + f[0]);
    }
  }

  private SparkSide side(String mode) {
    return sides.computeIfAbsent(mode, SparkSide::new);
  }

  private SparkSide.Conn conn(String no) {
    SparkSide.Conn c = clients.get(Integer.parseInt(no));
    if (c == null) {
      throw new IllegalArgumentException("no client " + no);
    }
    return c;
  }

  private void closeAll() {
    for (SparkSide s : sides.values()) {
      s.close();
    }
    sides.clear();
  }

  /** Base64 of s's UTF-8 bytes; "-" stands for the empty string. */
  static String b64(String s) {
    return b64(s.getBytes(StandardCharsets.UTF_8));
  }

  static String b64(byte[] b) {
    return b.length == 0 ? "-" : Base64.getEncoder().encodeToString(b);
  }

  static byte[] unb64(String s) {
    return s.equals("-") ? new byte[0] : Base64.getDecoder().decode(s);
  }
}
