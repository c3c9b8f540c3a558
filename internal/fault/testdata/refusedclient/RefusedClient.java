package ember.fault;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.spark.network.TransportContext;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.client.TransportClientFactory;
import org.apache.spark.network.server.NoOpRpcHandler;
import org.apache.spark.network.util.MapConfigProvider;
import org.apache.spark.network.util.TransportConf;

/**
 * Connects with Spark 4.1's own transport client to host:port, sends one
 * RPC and prints what came back: "REPLY <n> bytes" or "FAILED <the
 * exception's message>". Used to show what a Spark peer that a daemon in
 * protected mode refuses sees.
 */
public final class RefusedClient {
  public static void main(String[] args) throws Exception {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    Map<String, String> conf = new HashMap<>();
    conf.put("spark.rpc.io.mode", "NIO");
    TransportConf tconf = new TransportConf("rpc", new MapConfigProvider(conf));
    try (TransportContext ctx = new TransportContext(tconf, new NoOpRpcHandler());
         TransportClientFactory factory = ctx.createClientFactory()) {
      TransportClient client = factory.createClient(host, port);
      try {
        ByteBuffer reply = client.sendRpcSync(ByteBuffer.wrap("hello".getBytes(StandardCharsets.UTF_8)),
            TimeUnit.SECONDS.toMillis(60));
        System.out.println("REPLY " + reply.remaining() + " bytes");
      } catch (RuntimeException e) {
        Throwable root = e;
        while (root.getCause() != null) {
          root = root.getCause();
        }
        System.out.println("FAILED " + e.getMessage() + " | cause: " + root.getMessage());
      }
      System.out.flush();
    }
  }
}
