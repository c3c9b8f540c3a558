package ember.interop.rpcenv;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import org.apache.spark.SecurityManager;
import org.apache.spark.SparkConf;
import org.apache.spark.rpc.RpcAddress;
import org.apache.spark.rpc.RpcCallContext;
import org.apache.spark.rpc.RpcEndpointRef;
import org.apache.spark.rpc.RpcEnv;
import org.apache.spark.rpc.ThreadSafeRpcEndpoint;
import scala.Function1;
import scala.Option;
import scala.PartialFunction;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractPartialFunction;
import scala.runtime.BoxedUnit;

/**
 * A real Spark RpcEnv for Ember's rpcenv interop tests, driven over
 * stdin/stdout: one command per line, one answer per line ({@code OK ...}
 * or {@code FAIL b64(error)}). Free text travels as Base64.
 *
 * <pre>
 * Every command names a slot (any word): each slot is one RpcEnv.
 *
 * START slot server|client          -> OK port      a NettyRpcEnv with endpoint "jvm-echo" (port 0 in client mode)
 * ASK slot host port name b64(text) -> OK b64(reply)  setupEndpointRef (CheckExistence), then askSync
 * ASKINT slot host port name n      -> OK class:reply askSync of a java.lang.Integer
 * SEND slot host port name b64(text)-> OK            setupEndpointRef, then send
 * REFTRIP slot host port name       -> OK b64(reply) asks with jvm-echo's own ref; the reply is a ref,
 *                                               which is then asked "again" with its own default timeout
 * RECEIVED slot                     -> OK b64(m1),b64(m2),...  one-way messages jvm-echo got
 * QUIT                         -> OK, then exit
 * </pre>
 *
 * jvm-echo answers a String s with "jvm:" + s, an Integer n with n + 1,
 * "fail" with sendFailure(IllegalStateException("jvm refuses")), and a
 * ref by asking it "from-jvm" and answering its reply.
 */
public final class RpcPeer {
  private static final Base64.Encoder B64 = Base64.getEncoder();
  private static final Base64.Decoder UNB64 = Base64.getDecoder();

  private final java.util.Map<String, Slot> slots = new java.util.HashMap<>();

  /** One RpcEnv of the peer, with its jvm-echo endpoint. */
  final class Slot {
    RpcEnv env;
    RpcEndpointRef selfRef;
    final List<String> received = new ArrayList<>();

    RpcEndpointRef ref(String host, String port, String name) {
      return env.setupEndpointRef(new RpcAddress(host, Integer.parseInt(port)), name);
    }
  }

  static String b64(String s) {
    return s.isEmpty() ? "-" : B64.encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  static String unb64(String s) {
    return s.equals("-") ? "" : new String(UNB64.decode(s), StandardCharsets.UTF_8);
  }

  static final class Echo implements ThreadSafeRpcEndpoint {
    private final Slot slot;

    Echo(Slot slot) {
      this.slot = slot;
    }

    @Override
    public RpcEnv rpcEnv() {
      return slot.env;
    }

    @Override
    public PartialFunction<Object, BoxedUnit> receive() {
      return new AbstractPartialFunction<Object, BoxedUnit>() {
        @Override
        public boolean isDefinedAt(Object m) {
          return true;
        }

        @Override
        public <A1, B1> B1 applyOrElse(A1 m, Function1<A1, B1> dflt) {
          synchronized (slot.received) {
            slot.received.add(String.valueOf(m));
          }
          @SuppressWarnings("unchecked")
          B1 unit = (B1) BoxedUnit.UNIT;
          return unit;
        }
      };
    }

    @Override
    public PartialFunction<Object, BoxedUnit> receiveAndReply(RpcCallContext ctx) {
      return new AbstractPartialFunction<Object, BoxedUnit>() {
        @Override
        public boolean isDefinedAt(Object m) {
          return true;
        }

        @Override
        public <A1, B1> B1 applyOrElse(A1 m, Function1<A1, B1> dflt) {
          if ("fail".equals(m)) {
            ctx.sendFailure(new IllegalStateException("jvm refuses"));
          } else if (m instanceof String) {
            ctx.reply("jvm:" + m + " from " + ctx.senderAddress());
          } else if (m instanceof Integer) {
            ctx.reply(((Integer) m) + 1);
          } else if (m instanceof RpcEndpointRef) {
            String r = ((RpcEndpointRef) m).askSync("from-jvm", ClassTag$.MODULE$.apply(String.class));
            ctx.reply(r);
          } else {
            ctx.sendFailure(new IllegalArgumentException("unexpected " + m));
          }
          @SuppressWarnings("unchecked")
          B1 unit = (B1) BoxedUnit.UNIT;
          return unit;
        }
      };
    }
  }

  private String handle(String[] cmd) throws Exception {
    // Every command but QUIT names its slot first: shift it out.
    Slot sl = slots.computeIfAbsent(cmd[1], k -> new Slot());
    String[] a = new String[cmd.length - 1];
    a[0] = cmd[0];
    System.arraycopy(cmd, 2, a, 1, cmd.length - 2);
    switch (a[0]) {
      case "START": {
        boolean client = a[1].equals("client");
        SparkConf conf = new SparkConf().set("spark.rpc.askTimeout", "30s").set("spark.rpc.lookupTimeout", "30s");
        SecurityManager sm = new SecurityManager(conf, Option.empty(), org.apache.spark.internal.config.package$.MODULE$.AUTH_SECRET_FILE());
        sl.env = RpcEnv.create(client ? "ember-interop-client" : "ember-interop", "127.0.0.1", 0, conf, sm, client);
        sl.selfRef = sl.env.setupEndpoint("jvm-echo", new Echo(sl));
        return "OK " + (client ? 0 : sl.env.address().port());
      }
      case "ASK":
        return "OK " + b64(sl.ref(a[1], a[2], a[3]).askSync(unb64(a[4]), ClassTag$.MODULE$.apply(String.class)));
      case "ASKINT": {
        Object r = sl.ref(a[1], a[2], a[3]).askSync(Integer.valueOf(a[4]), ClassTag$.MODULE$.apply(Object.class));
        return "OK " + r.getClass().getName() + ":" + r;
      }
      case "SEND":
        sl.ref(a[1], a[2], a[3]).send(unb64(a[4]));
        return "OK";
      case "REFTRIP": {
        Object back = sl.ref(a[1], a[2], a[3]).askSync(sl.selfRef, ClassTag$.MODULE$.apply(Object.class));
        if (!(back instanceof RpcEndpointRef)) {
          return "FAIL " + b64("the reply is a " + back.getClass().getName());
        }
        RpcEndpointRef r = (RpcEndpointRef) back;
        String again = r.askSync("again", ClassTag$.MODULE$.apply(String.class));
        return "OK " + b64(r.address() + "/" + r.name() + " " + again);
      }
      case "RECEIVED": {
        StringBuilder sb = new StringBuilder();
        synchronized (sl.received) {
          for (String m : sl.received) {
            if (sb.length() > 0) {
              sb.append(',');
            }
            sb.append(b64(m));
          }
        }
        return "OK " + (sb.length() == 0 ? "-" : sb.toString());
      }
      default:
        return "FAIL " + b64("unknown command " + a[0]);
    }
  }

  public static void main(String[] args) throws Exception {
    PrintStream answers = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    RpcPeer p = new RpcPeer();
    answers.println("READY");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      String[] a = line.trim().split(" ");
      if (a[0].equals("QUIT")) {
        answers.println("OK");
        break;
      }
      String ans;
      try {
        ans = p.handle(a);
      } catch (Throwable e) {
        Throwable c = e;
        while (c.getCause() != null && c.getCause() != c) {
          c = c.getCause();
        }
        ans = "FAIL " + b64(e.getClass().getName() + ": " + e.getMessage() + " / " + c.getClass().getName() + ": " + c.getMessage());
      }
      answers.println(ans);
    }
    for (Slot sl : p.slots.values()) {
      if (sl.env != null) {
        sl.env.shutdown();
      }
    }
    System.exit(0);
  }
}
