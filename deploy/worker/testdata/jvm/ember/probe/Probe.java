package ember.probe;

import java.io.File;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;

/**
 * A stand-in for a Spark executor or driver JVM, started by the Go worker's
 * launch path. It reports what it was started with (classpath, selected
 * environment variables, arguments, heap limit, working directory, one
 * system property, whether Spark's classes load) as key=value lines on
 * stdout, writes a line to stderr, then acts on its first argument:
 * "exit N" exits with N, "hang" waits until it is killed.
 */
public final class Probe {
  private Probe() {}

  public static void main(String[] args) throws Exception {
    StringBuilder out = new StringBuilder();
    line(out, "classpath", System.getProperty("java.class.path"));
    for (String k : new String[] {"SPARK_HOME", "SPARK_EXECUTOR_DIRS", "SPARK_LAUNCH_WITH_SCALA",
        "SPARK_LOG_URL_STDOUT", "SPARK_LOG_URL_STDERR", "SPARK_USER", "_SPARK_AUTH_SECRET",
        "SPARK_EXECUTOR_CORES"}) {
      String v = System.getenv(k);
      line(out, "env." + k, v == null ? "<unset>" : v);
    }
    line(out, "args", String.join("|", Arrays.asList(args)));
    line(out, "maxMemoryMB", Long.toString(Runtime.getRuntime().maxMemory() / (1024 * 1024)));
    line(out, "cwd", new File(".").getCanonicalPath());
    line(out, "prop.probe.opt", String.valueOf(System.getProperty("probe.opt")));
    line(out, "prop.spark.authenticate.secret", String.valueOf(System.getProperty("spark.authenticate.secret")));
    line(out, "pid", Long.toString(ProcessHandle.current().pid()));
    boolean spark;
    try {
      Class.forName("org.apache.spark.executor.CoarseGrainedExecutorBackend", false, Probe.class.getClassLoader());
      spark = true;
    } catch (ClassNotFoundException e) {
      spark = false;
    }
    line(out, "sparkOnClasspath", Boolean.toString(spark));
    out.append("ready\n");
    System.out.print(out);
    System.out.flush();
    System.err.println("probe stderr line");
    System.err.flush();
    if (args.length >= 2 && args[0].equals("exit")) {
      System.exit(Integer.parseInt(args[1]));
    }
    if (args.length >= 1 && args[0].equals("hang")) {
      new CountDownLatch(1).await();
    }
  }

  private static void line(StringBuilder out, String k, String v) {
    out.append(k).append('=').append(v).append('\n');
  }
}
