package ember.sparkapp2;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * A driver that registers and runs no job, for tests of a registration
 * that must fail (a wrong secret).
 *
 * <p>Usage: {@code RegisterOnly [wait-seconds]}. It creates a SparkContext
 * (which returns once the master accepted the application, or once the
 * application was given up) and waits up to wait-seconds (default 30) for
 * the context to stop. A stopped context prints "SparkContext stopped
 * before any job" and exits with status 3; otherwise it prints "Registered
 * as &lt;app-id&gt;", stops the context and exits 0. Submitting no job
 * keeps clear of Spark's race between a job's submission and the
 * context's stop on another thread (the job may then wait forever).
 */
public final class RegisterOnly {
  private RegisterOnly() {}

  public static void main(String[] args) throws InterruptedException {
    int wait = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("EmberRegisterOnly"));
    long end = System.currentTimeMillis() + wait * 1000L;
    while (!sc.sc().isStopped() && System.currentTimeMillis() < end) {
      Thread.sleep(100);
    }
    if (sc.sc().isStopped()) {
      System.out.println("SparkContext stopped before any job");
      System.out.flush();
      System.exit(3);
    }
    System.out.println("Registered as " + sc.sc().applicationId());
    sc.close();
  }
}
