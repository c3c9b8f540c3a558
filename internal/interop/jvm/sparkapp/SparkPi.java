package ember.sparkapp;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * A small JVM Spark application for Ember's end-to-end tests: estimates pi
 * by sampling points in the unit square on the cluster's executors, and
 * prints "Pi is roughly <estimate>" and the number of executors that ran
 * tasks.
 *
 * <p>Usage: {@code SparkPi [slices [linger-seconds [release]]]} (default 2
 * slices, no lingering), submitted with spark-submit against a standalone
 * master. With linger-seconds the driver prints "Lingering" and stays up
 * that long after the job, for tests that look at (or kill) a running
 * driver. With "release" (under dynamic allocation) it waits instead, up to
 * linger-seconds, until the driver holds no executor any more, and prints
 * "Executors released" (or "Executors still held").
 */
public final class SparkPi {
  private SparkPi() {}

  public static void main(String[] args) throws InterruptedException {
    int slices = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int linger = args.length > 1 ? Integer.parseInt(args[1]) : 0;
    boolean release = args.length > 2 && args[2].equals("release");
    int perSlice = 50_000;
    List<Integer> seeds = new ArrayList<>();
    for (int i = 0; i < slices; i++) {
      seeds.add(i);
    }
    SparkConf conf = new SparkConf().setAppName("EmberJavaSparkPi");
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      long inside = sc.parallelize(seeds, slices).map(seed -> {
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
      if (release) {
        long end = System.currentTimeMillis() + linger * 1000L;
        while (!sc.sc().getExecutorIds().isEmpty() && System.currentTimeMillis() < end) {
          Thread.sleep(200);
        }
        System.out.println(sc.sc().getExecutorIds().isEmpty() ? "Executors released" : "Executors still held");
      } else if (linger > 0) {
        System.out.println("Lingering");
        System.out.flush();
        Thread.sleep(linger * 1000L);
      }
    }
  }
}
