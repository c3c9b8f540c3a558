package ember.daemonbench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.spark.SecurityManager;
import org.apache.spark.SparkConf;
import org.apache.spark.deploy.ApplicationDescription;
import org.apache.spark.deploy.Command;
import org.apache.spark.deploy.client.StandaloneAppClient;
import org.apache.spark.deploy.client.StandaloneAppClientListener;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.resource.ResourceProfile$;
import org.apache.spark.rpc.RpcEnv;
import org.apache.spark.scheduler.ExecutorDecommissionInfo;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Registers many applications with a standalone master from one JVM, for
 * Ember's daemon benchmark: each is a Spark StandaloneAppClient (the same
 * client a SparkContext uses) on an RpcEnv of its own (the client's
 * endpoint name is fixed, so one env holds one client), asking for 64 GiB
 * executors, more than any worker of the benchmark offers, so the master
 * holds the apps WAITING without launching executors.
 *
 * <p>Usage: {@code AppFleet master-url count}. Prints "REGISTERED count"
 * once every app has its id, then stays up (holding the apps) until it is
 * killed.
 */
public final class AppFleet {
  private AppFleet() {}

  /** Counts the registrations; ignores the rest. */
  private static final class Listener implements StandaloneAppClientListener {
    private final CountDownLatch registered;

    Listener(CountDownLatch registered) {
      this.registered = registered;
    }

    @Override
    public void connected(String appId) {
      registered.countDown();
    }

    @Override
    public void disconnected() {}

    @Override
    public void dead(String reason) {
      System.out.println("DEAD " + reason);
    }

    @Override
    public void executorAdded(String id, String workerId, String hostPort, int cores, int memory) {
      System.out.println("EXECUTOR " + id);
    }

    @Override
    public void executorRemoved(String id, String message, Option<Object> exitStatus, Option<String> workerHost) {}

    @Override
    public void executorDecommissioned(String id, ExecutorDecommissionInfo info) {}

    @Override
    public void workerRemoved(String workerId, String host, String message) {}
  }

  public static void main(String[] args) throws Exception {
    String master = args[0];
    int count = Integer.parseInt(args[1]);
    // Small thread pools: fifty envs share one JVM.
    SparkConf conf = new SparkConf()
        .set("spark.rpc.io.serverThreads", "1")
        .set("spark.rpc.io.clientThreads", "1")
        .set("spark.rpc.netty.dispatcher.numThreads", "1")
        // More memory per executor than any worker of the benchmark has:
        // the master keeps the apps WAITING and launches no executor.
        .set("spark.executor.memory", "64g");
    SecurityManager sm = new SecurityManager(conf, SecurityManager.$lessinit$greater$default$2(),
        SecurityManager.$lessinit$greater$default$3());
    ResourceProfile profile = ResourceProfile$.MODULE$.getOrCreateDefaultProfile(conf);
    scala.collection.immutable.Seq<String> none = CollectionConverters.asScala(new ArrayList<String>()).toList();
    // A mutable HashMap, as a SparkContext's executorEnvs is.
    scala.collection.Map<String, String> noEnv = new scala.collection.mutable.HashMap<String, String>();
    Command cmd = new Command("org.apache.spark.executor.CoarseGrainedExecutorBackend", none, noEnv, none, none, none);
    CountDownLatch registered = new CountDownLatch(count);
    List<StandaloneAppClient> clients = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      ApplicationDescription desc = new ApplicationDescription("fleet-" + i, Option.empty(), cmd,
          "http://127.0.0.1:4040", profile, Option.empty(), Option.empty(), Option.empty(), "bench");
      RpcEnv env = RpcEnv.create("appFleet" + i, "127.0.0.1", 0, conf, sm, false);
      StandaloneAppClient c = new StandaloneAppClient(env, new String[] {master}, desc, new Listener(registered), conf);
      c.start();
      clients.add(c);
    }
    if (!registered.await(120, TimeUnit.SECONDS)) {
      System.out.println("TIMEOUT " + registered.getCount() + " not registered");
      System.exit(2);
    }
    System.out.println("REGISTERED " + count);
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE);
  }
}
