package ember.sparkapp2;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * A pi estimate whose tasks stop at a gate, for Ember's end-to-end tests
 * that act on a cluster while a job runs (kill an executor, kill the
 * master).
 *
 * <p>Usage: {@code GatedPi gate-dir slices}. Every task attempt first
 * writes the file {@code started-<partition>-<attempt>} in gate-dir (its
 * content: "executor-id pid"), then waits until the file {@code open}
 * exists in gate-dir (at most four minutes; then it fails), then samples
 * points in the unit square. The driver prints "Pi is roughly <estimate>".
 */
public final class GatedPi {
  private GatedPi() {}

  static final long GATE_LIMIT_MS = 240_000L;

  /** Announces the task attempt, then waits for the gate to open. */
  static void gate(String dir) throws IOException, InterruptedException {
    TaskContext tc = TaskContext.get();
    Path d = Paths.get(dir);
    String name = "started-" + tc.partitionId() + "-" + tc.attemptNumber();
    Path tmp = d.resolve("." + name + ".tmp");
    String body = SparkEnv.get().executorId() + " " + ProcessHandle.current().pid() + "\n";
    Files.write(tmp, body.getBytes(StandardCharsets.UTF_8));
    Files.move(tmp, d.resolve(name), StandardCopyOption.ATOMIC_MOVE);
    Path open = d.resolve("open");
    long end = System.currentTimeMillis() + GATE_LIMIT_MS;
    while (!Files.exists(open)) {
      if (System.currentTimeMillis() > end) {
        throw new IllegalStateException("the gate " + open + " did not open");
      }
      Thread.sleep(50);
    }
  }

  public static void main(String[] args) {
    final String dir = args[0];
    int slices = Integer.parseInt(args[1]);
    final int perSlice = 50_000;
    List<Integer> seeds = new ArrayList<>();
    for (int i = 0; i < slices; i++) {
      seeds.add(i);
    }
    SparkConf conf = new SparkConf().setAppName("EmberGatedPi");
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      long inside = sc.parallelize(seeds, slices).map(seed -> {
        gate(dir);
        java.util.Random r = new java.util.Random(seed * 7919L + 1);
        long hits = 0;
        for (int k = 0; k < perSlice; k++) {
          double x = r.nextDouble() * 2 - 1;
          double y = r.nextDouble() * 2 - 1;
          if (x * x + y * y <= 1) {
            hits++;
          }
        }
        return hits;
      }).reduce(Long::sum);
      System.out.println("Pi is roughly " + 4.0 * inside / ((long) perSlice * slices));
    }
  }
}
