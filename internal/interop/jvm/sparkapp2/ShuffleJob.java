package ember.sparkapp2;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.LongAccumulator;

import scala.Tuple2;

/**
 * A shuffle-heavy JVM application for Ember's end-to-end tests, meant to
 * run under dynamic allocation with the external shuffle service.
 *
 * <p>Usage: {@code ShuffleJob records partitions keys}. Each of the
 * partitions map tasks generates its share of the records, each a key in
 * [0, keys) and a 100-byte value whose first eight bytes are the record's
 * number and the rest a pattern derived from it. The records are grouped by
 * key ({@code groupByKey}); a first job counts the groups. The driver then
 * waits until dynamic allocation released every executor, so that the map
 * outputs outlive the executors that wrote them. A second job reads the
 * same grouped RDD again (its map stage is skipped: the outputs are fetched
 * from the external shuffle service on new executors), summarises each group
 * and sorts the summaries by key ({@code sortByKey}), checking the order
 * and a checksum against values computed in the driver.
 *
 * <p>Output lines (stdout), for the test to check: "map executors: ...",
 * "Executors released", "reduce executors: ...", "map tasks run: N",
 * "groups=G records=R badBytes=B checksum=C expected=E sorted=true|false",
 * and "ShuffleJob OK" when everything held (else "ShuffleJob FAILED" and
 * exit status 1).
 */
public final class ShuffleJob {
  private ShuffleJob() {}

  static final int VALUE_BYTES = 100;
  static final long KEY_MULT = 40503L;

  static int keyOf(long i, int keys) {
    return (int) ((i * KEY_MULT) % keys);
  }

  static byte filler(long i, int j) {
    return (byte) (i * 31 + j * 7);
  }

  /** The contribution of record i (key k) to the checksum. */
  static long mix(int k, long i) {
    long h = (k + 1) * 0x9E3779B97F4A7C15L ^ (i * 0xC2B2AE3D27D4EB4FL);
    return h ^ (h >>> 29);
  }

  /** (records, bad bytes, checksum) of key k's values. */
  static long[] summarise(int k, Iterable<byte[]> values, int keys) {
    long n = 0;
    long bad = 0;
    long sum = 0;
    for (byte[] v : values) {
      if (v.length != VALUE_BYTES) {
        bad++;
        continue;
      }
      long i = 0;
      for (int b = 0; b < 8; b++) {
        i |= (v[b] & 0xffL) << (8 * b);
      }
      for (int j = 8; j < VALUE_BYTES; j++) {
        if (v[j] != filler(i, j)) {
          bad++;
        }
      }
      if (keyOf(i, keys) != k) {
        bad++;
      }
      sum += mix(k, i);
      n++;
    }
    return new long[] {n, bad, sum};
  }

  public static void main(String[] args) throws Exception {
    final long records = Long.parseLong(args[0]);
    final int parts = Integer.parseInt(args[1]);
    final int keys = Integer.parseInt(args[2]);
    SparkConf conf = new SparkConf().setAppName("EmberShuffleJob");
    boolean ok = true;
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      LongAccumulator mapRuns = sc.sc().longAccumulator("mapRuns");
      CollectionAccumulator<String> mapExecs = sc.sc().collectionAccumulator("mapExecs");
      CollectionAccumulator<String> reduceExecs = sc.sc().collectionAccumulator("reduceExecs");
      List<Integer> ids = new ArrayList<>();
      for (int p = 0; p < parts; p++) {
        ids.add(p);
      }
      JavaPairRDD<Integer, byte[]> pairs = sc.parallelize(ids, parts).flatMapToPair(p -> {
        mapRuns.add(1);
        mapExecs.add(SparkEnv.get().executorId());
        final long from = records * p / parts;
        final long to = records * (p + 1) / parts;
        return new Iterator<Tuple2<Integer, byte[]>>() {
          long i = from;

          @Override
          public boolean hasNext() {
            return i < to;
          }

          @Override
          public Tuple2<Integer, byte[]> next() {
            if (i >= to) {
              throw new NoSuchElementException();
            }
            byte[] v = new byte[VALUE_BYTES];
            for (int b = 0; b < 8; b++) {
              v[b] = (byte) (i >>> (8 * b));
            }
            for (int j = 8; j < VALUE_BYTES; j++) {
              v[j] = filler(i, j);
            }
            Tuple2<Integer, byte[]> t = new Tuple2<>(keyOf(i, keys), v);
            i++;
            return t;
          }
        };
      });
      JavaPairRDD<Integer, Iterable<byte[]>> grouped = pairs.groupByKey(parts);
      long groups = grouped.count();
      System.out.println("first job: " + groups + " groups");
      System.out.println("map executors: " + new java.util.TreeSet<>(mapExecs.value()));

      // Dynamic allocation removes the idle executors; their map outputs
      // stay on disk, served by the worker's shuffle service.
      long end = System.currentTimeMillis() + 180_000L;
      while (!sc.sc().getExecutorIds().isEmpty() && System.currentTimeMillis() < end) {
        Thread.sleep(100);
      }
      if (!sc.sc().getExecutorIds().isEmpty()) {
        System.out.println("Executors still held: " + sc.sc().getExecutorIds());
        ok = false;
      } else {
        System.out.println("Executors released");
      }

      // Per key: (records, bad filler bytes, checksum), sorted by key.
      List<Tuple2<Integer, long[]>> summaries = grouped.mapPartitionsToPair(it -> {
        reduceExecs.add(SparkEnv.get().executorId());
        List<Tuple2<Integer, long[]>> out = new ArrayList<>();
        while (it.hasNext()) {
          Tuple2<Integer, Iterable<byte[]>> kv = it.next();
          out.add(new Tuple2<>(kv._1(), summarise(kv._1(), kv._2(), keys)));
        }
        return out.iterator();
      }).sortByKey(true, parts).collect();

      long n = 0;
      long bad = 0;
      long sum = 0;
      boolean sorted = true;
      int prev = -1;
      for (Tuple2<Integer, long[]> s : summaries) {
        if (s._1() <= prev) {
          sorted = false;
        }
        prev = s._1();
        n += s._2()[0];
        bad += s._2()[1];
        sum += s._2()[2];
      }
      long expected = 0;
      for (long i = 0; i < records; i++) {
        expected += mix(keyOf(i, keys), i);
      }
      System.out.println("reduce executors: " + new java.util.TreeSet<>(reduceExecs.value()));
      System.out.println("map tasks run: " + mapRuns.value());
      System.out.println("groups=" + summaries.size() + " records=" + n + " badBytes=" + bad + " checksum=" + sum
          + " expected=" + expected + " sorted=" + sorted);
      ok = ok && sorted && bad == 0 && n == records && sum == expected
          && summaries.size() == Math.min(keys, records) && groups == summaries.size();
    }
    System.out.println(ok ? "ShuffleJob OK" : "ShuffleJob FAILED");
    System.out.flush();
    if (!ok) {
      System.exit(1);
    }
  }
}
