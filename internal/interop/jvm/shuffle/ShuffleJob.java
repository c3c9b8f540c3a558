package ember.interop.shuffle;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.pmod;

/**
 * A real Spark application whose executors use an external shuffle
 * service: Spark's local-cluster mode (a master and two workers in this
 * JVM, each executor its own JVM) with spark.shuffle.service.enabled, so
 * each executor registers with the service on 127.0.0.1:PORT and the
 * reducers fetch the other executor's map outputs through it.
 *
 * Arguments: ROWS LOCALDIR RUN..., each RUN PORT:READHOSTLOCALDISK[:SECRET].
 * The job groups ROWS numbers by their remainder mod 7 (four map tasks,
 * four reduce partitions), once per RUN, each its own application using
 * the service at PORT, and prints a line per run on stdout: "@@ok" and
 * K=COUNT for each remainder, or "@@err" and why.
 */
public final class ShuffleJob {
  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
    System.setOut(System.err);
    for (int i = 2; i < args.length; i++) {
      String[] run = args[i].split(":", 3);
      out.println(run(Long.parseLong(args[0]), args[1], run[0], run[1], run.length > 2 ? run[2] : null));
    }
  }

  /**
   * Runs the job as one application with the service at port;
   * readHostLocalDisk as given; with a secret, spark.authenticate (the
   * AuthEngine) on every connection, the service's included.
   */
  private static String run(long rows, String localDir, String port, String readHostLocalDisk,
      String secret) {
    SparkSession spark = null;
    try {
      SparkSession.Builder b0 = SparkSession.builder();
      if (secret != null) {
        b0.config("spark.authenticate", "true")
            .config("spark.authenticate.secret", secret)
            .config("spark.network.crypto.enabled", "true");
      }
      spark = b0
          .master("local-cluster[2,1,512]")
          .appName("ember-shuffle-interop")
          .config("spark.shuffle.service.enabled", "true")
          .config("spark.shuffle.service.port", port)
          // false: the other executor's map outputs come through the
          // service; true: they are read from its dirs, which the service
          // names (GetLocalDirsForExecutors).
          .config("spark.shuffle.readHostLocalDisk", readHostLocalDisk)
          .config("spark.sql.adaptive.enabled", "false")
          .config("spark.sql.shuffle.partitions", "4")
          .config("spark.local.dir", localDir)
          .config("spark.driver.host", "127.0.0.1")
          .config("spark.driver.bindAddress", "127.0.0.1")
          .config("spark.executor.memory", "512m")
          .config("spark.ui.enabled", "false")
          .config("spark.task.maxFailures", "1")
          // Both executors (one core each) up before the first task: each
          // runs a map task, so every reducer needs the other's output.
          .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
          .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "300s")
          .getOrCreate();
      Row[] rs = (Row[]) spark.range(0, rows, 1, 4)
          .groupBy(pmod(col("id"), lit(7)).as("k")).count().orderBy("k").collect();
      StringBuilder b = new StringBuilder("@@ok");
      for (Row r : rs) {
        b.append('\t').append(r.get(0)).append('=').append(r.get(1));
      }
      return b.toString();
    } catch (Throwable e) {
      return "@@err\t" + String.valueOf(e).replace('\t', ' ').replace('\n', ' ');
    } finally {
      if (spark != null) {
        spark.stop();
      }
    }
  }
}
