package ember.interop.javaser;

import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkException;
import org.apache.spark.deploy.ApplicationDescription;
import org.apache.spark.deploy.Command;
import org.apache.spark.deploy.DeployMessages;
import org.apache.spark.deploy.DriverDescription;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.rpc.RpcAddress;
import org.apache.spark.rpc.RpcEndpointAddress;
import org.apache.spark.rpc.RpcEnv;
import org.apache.spark.rpc.RpcTimeout;
import org.apache.spark.rpc.netty.NettyRpcEndpointRef;
import org.apache.spark.rpc.netty.NettyRpcEnv;
import org.apache.spark.rpc.netty.RpcEndpointVerifier;
import org.apache.spark.rpc.netty.RpcFailure;

import scala.Option;
import scala.Some;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The named objects Ember's golden streams hold: real Spark 4.1.4 messages
 * and the Scala shapes inside them, built with Spark's own constructors.
 * Every value is fixed so a rerun writes the same bytes.
 */
final class Catalog {
    /** One catalog entry: a file name, what it is, and the object. */
    static final class Entry {
        final String name;
        final String about;
        final Object value;

        Entry(String name, String about, Object value) {
            this.name = name;
            this.about = about;
            this.value = value;
        }
    }

    private Catalog() {}

    /** An Externalizable class of the harness: block-data content of both kinds. */
    public static final class Ext implements java.io.Externalizable {
        private static final long serialVersionUID = 1L;
        int n = 7;
        String s = "ext";

        public Ext() {}

        @Override
        public void writeExternal(java.io.ObjectOutput out) throws java.io.IOException {
            out.writeInt(n);
            out.writeUTF(s);
            out.writeObject(java.util.concurrent.TimeUnit.MINUTES);
            out.writeObject(s);
        }

        @Override
        public void readExternal(java.io.ObjectInput in) throws java.io.IOException, ClassNotFoundException {
            n = in.readInt();
            s = in.readUTF();
            in.readObject();
            in.readObject();
        }

        @Override
        public String toString() {
            return "Ext(" + n + "," + s + ")";
        }
    }

    /** A serializable invocation handler, so a dynamic proxy can be written. */
    public static final class Handler implements java.lang.reflect.InvocationHandler, java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final String tag = "handler";

        @Override
        public Object invoke(Object proxy, java.lang.reflect.Method m, Object[] args) {
            return m.getName().equals("toString") ? "Proxy(" + tag + ")" : null;
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static scala.collection.immutable.List<Object> list(Object... xs) {
        return (scala.collection.immutable.List) CollectionConverters.asScala(Arrays.asList(xs)).toList();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static scala.collection.immutable.Vector<Object> vector(Object... xs) {
        return (scala.collection.immutable.Vector) scala.collection.immutable.Vector$.MODULE$.from(CollectionConverters.asScala(Arrays.asList(xs)));
    }

    static scala.collection.immutable.ArraySeq<String> arraySeq(String... xs) {
        return scala.collection.immutable.ArraySeq$.MODULE$.unsafeWrapArray(xs);
    }

    /** An immutable Scala map holding the pairs in order (Map1..Map4, then a HashMap). */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static scala.collection.immutable.Map<Object, Object> map(Object... kv) {
        scala.collection.immutable.Map m = scala.collection.immutable.Map$.MODULE$.empty();
        for (int i = 0; i < kv.length; i += 2) {
            m = (scala.collection.immutable.Map) m.updated(kv[i], kv[i + 1]);
        }
        return m;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static scala.collection.mutable.HashMap<Object, Object> mutableMap(Object... kv) {
        scala.collection.mutable.HashMap m = new scala.collection.mutable.HashMap();
        for (int i = 0; i < kv.length; i += 2) {
            m.update(kv[i], kv[i + 1]);
        }
        return m;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static scala.collection.immutable.Set<Object> set(Object... xs) {
        scala.collection.immutable.Set s = scala.collection.immutable.Set$.MODULE$.empty();
        for (Object x : xs) {
            s = (scala.collection.immutable.Set) s.incl(x);
        }
        return s;
    }

    static Object[] strings(String prefix, int n) {
        Object[] out = new Object[n];
        for (int i = 0; i < n; i++) {
            out[i] = prefix + i;
        }
        return out;
    }

    static Object[] pairs(int n) {
        Object[] out = new Object[2 * n];
        for (int i = 0; i < n; i++) {
            out[2 * i] = "k" + i;
            out[2 * i + 1] = "v" + i;
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static <T> Option<T> none() {
        return (Option<T>) scala.None$.MODULE$;
    }

    static SparkConf conf() {
        SparkConf conf = new SparkConf(false);
        conf.set("spark.app.name", "Spark Pi");
        conf.set("spark.master", "spark://127.0.0.1:7077");
        conf.set("spark.executor.memory", "1g");
        conf.set("spark.executor.cores", "2");
        return conf;
    }

    static NettyRpcEndpointRef ref(SparkConf conf, NettyRpcEnv env, String host, int port, String name) {
        return new NettyRpcEndpointRef(conf, new RpcEndpointAddress(new RpcAddress(host, port), name), env);
    }

    static Command executorCommand() {
        return new Command(
            "org.apache.spark.executor.CoarseGrainedExecutorBackend",
            (scala.collection.immutable.Seq<String>) (Object) list(
                "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:40123",
                "--executor-id", "{{EXECUTOR_ID}}", "--hostname", "{{HOSTNAME}}",
                "--cores", "{{CORES}}", "--app-id", "{{APP_ID}}",
                "--worker-url", "{{WORKER_URL}}", "--resourceProfileId", "{{RESOURCE_PROFILE_ID}}"),
            (scala.collection.Map<String, String>) (Object) mutableMap(
                "SPARK_USER", "ember", "SPARK_EXECUTOR_MEMORY", "1024m"),
            (scala.collection.immutable.Seq<String>) (Object) list(),
            (scala.collection.immutable.Seq<String>) (Object) list(),
            arraySeq("-Dspark.driver.port=40123", "-XX:+IgnoreUnrecognizedVMOptions",
                "--add-opens=java.base/java.lang=ALL-UNNAMED", "-Djdk.reflect.useDirectMethodHandle=false"));
    }

    static Exception noStack(Exception e) {
        e.setStackTrace(new StackTraceElement[0]);
        return e;
    }

    /** Builds every entry. The env is a real NettyRpcEnv; refs use fixed addresses so the bytes are stable. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static List<Entry> build(RpcEnv rpcEnv) throws Exception {
        SparkConf conf = conf();
        NettyRpcEnv env = (NettyRpcEnv) rpcEnv;
        NettyRpcEndpointRef master = ref(conf, env, "127.0.0.1", 7077, "Master");
        NettyRpcEndpointRef appClient = ref(conf, env, "127.0.0.1", 40123, "AppClient");
        ResourceProfile profile = org.apache.spark.resource.ResourceProfile$.MODULE$.getOrCreateDefaultProfile(conf);

        ApplicationDescription app = new ApplicationDescription(
            "Spark Pi", (Option) new Some<Object>(4), executorCommand(), "http://127.0.0.1:4040", profile,
            new Some<URI>(new URI("file:/tmp/spark-events")), none(), none(), "ember");
        ApplicationDescription appMinimal = new ApplicationDescription(
            "minimal", none(), executorCommand(), "http://127.0.0.1:4040", profile,
            none(), new Some<String>("zstd"), (Option) new Some<Object>(0), "ember");

        Command driverCommand = new Command(
            "org.apache.spark.deploy.worker.DriverWrapper",
            (scala.collection.immutable.Seq<String>) (Object) list("{{WORKER_URL}}", "{{USER_JAR}}", "org.example.Main", "arg1"),
            (scala.collection.Map<String, String>) (Object) map("SPARK_USER", "ember"),
            (scala.collection.immutable.Seq<String>) (Object) list(),
            (scala.collection.immutable.Seq<String>) (Object) list(),
            (scala.collection.immutable.Seq<String>) (Object) list("-Dspark.master=spark://127.0.0.1:7077", "-Dspark.app.name=example"));
        DriverDescription driver = new DriverDescription(
            "file:/tmp/example.jar", 1024, 1, false, driverCommand, (scala.collection.immutable.Seq) list());

        List<Entry> out = new ArrayList<>();
        out.add(new Entry("boolean-true", "java.lang.Boolean.TRUE (the CheckExistence reply)", Boolean.TRUE));
        out.add(new Entry("boolean-false", "java.lang.Boolean.FALSE", Boolean.FALSE));
        out.add(new Entry("check-existence", "RpcEndpointVerifier$CheckExistence(\"Master\")",
            new RpcEndpointVerifier.CheckExistence("Master")));
        out.add(new Entry("endpoint-ref", "NettyRpcEndpointRef spark://Master@127.0.0.1:7077 (default ask timeout)", master));
        out.add(new Entry("register-application", "RegisterApplication: Some(4) cores, event log dir URI, ArraySeq javaOpts, mutable.HashMap env",
            new DeployMessages.RegisterApplication(app, appClient)));
        out.add(new Entry("register-application-minimal", "RegisterApplication: maxCores None, codec Some(zstd), initialExecutorLimit Some(0)",
            new DeployMessages.RegisterApplication(appMinimal, appClient)));
        out.add(new Entry("registered-application", "RegisteredApplication(app-20261207080000-0000, master ref)",
            new DeployMessages.RegisteredApplication("app-20261207080000-0000", master)));
        out.add(new Entry("executor-added", "ExecutorAdded(0, worker-..., 127.0.0.1:35000, 2, 1024)",
            new DeployMessages.ExecutorAdded(0, "worker-20261207080000-127.0.0.1-35000", "127.0.0.1:35000", 2, 1024)));
        out.add(new Entry("executor-updated-running", "ExecutorUpdated(0, RUNNING, None, None, None)",
            new DeployMessages.ExecutorUpdated(0, org.apache.spark.deploy.ExecutorState$.MODULE$.RUNNING(), none(), none(), none())));
        out.add(new Entry("executor-updated-exited", "ExecutorUpdated(1, EXITED, Some(msg), Some(0), Some(host))",
            new DeployMessages.ExecutorUpdated(1, org.apache.spark.deploy.ExecutorState$.MODULE$.EXITED(), new Some<String>("Command exited with code 0"),
                (Option) new Some<Object>(0), new Some<String>("127.0.0.1"))));
        out.add(new Entry("executor-updated-lost", "ExecutorUpdated(2, LOST, Some(msg), Some(-1), None)",
            new DeployMessages.ExecutorUpdated(2, org.apache.spark.deploy.ExecutorState$.MODULE$.LOST(), new Some<String>("worker lost"),
                (Option) new Some<Object>(-1), none())));
        out.add(new Entry("application-removed", "ApplicationRemoved(message)",
            new DeployMessages.ApplicationRemoved("Master removed our application: KILLED")));
        out.add(new Entry("worker-removed", "WorkerRemoved(id, host, message)",
            new DeployMessages.WorkerRemoved("worker-1", "127.0.0.1", "Not receiving heartbeat for 60 seconds")));
        out.add(new Entry("master-changed", "MasterChanged(master ref, web UI URL)",
            new DeployMessages.MasterChanged(master, "http://127.0.0.1:8080")));
        out.add(new Entry("master-change-acknowledged", "MasterChangeAcknowledged(appId)",
            new DeployMessages.MasterChangeAcknowledged("app-20261207080000-0000")));
        out.add(new Entry("unregister-application", "UnregisterApplication(appId)",
            new DeployMessages.UnregisterApplication("app-20261207080000-0000")));
        out.add(new Entry("request-executors", "RequestExecutors(appId, Map(defaultProfile -> 2))",
            new DeployMessages.RequestExecutors("app-20261207080000-0000", (scala.collection.immutable.Map) map(profile, 2))));
        out.add(new Entry("kill-executors", "KillExecutors(appId, List(1, 2))",
            new DeployMessages.KillExecutors("app-20261207080000-0000", (scala.collection.immutable.Seq) list("1", "2"))));
        out.add(new Entry("request-submit-driver", "RequestSubmitDriver(DriverDescription(...))",
            new DeployMessages.RequestSubmitDriver(driver)));
        out.add(new Entry("submit-driver-response", "SubmitDriverResponse(master, true, Some(driver id), message)",
            new DeployMessages.SubmitDriverResponse(master, true, new Some<String>("driver-20261207080000-0000"),
                "Driver successfully submitted as driver-20261207080000-0000")));
        out.add(new Entry("request-driver-status", "RequestDriverStatus(driverId)",
            new DeployMessages.RequestDriverStatus("driver-20261207080000-0000")));
        out.add(new Entry("driver-status-response", "DriverStatusResponse(true, Some(RUNNING), Some(worker), Some(hostPort), None)",
            new DeployMessages.DriverStatusResponse(true, (Option) new Some<Object>(org.apache.spark.deploy.master.DriverState$.MODULE$.RUNNING()),
                new Some<String>("worker-1"), new Some<String>("127.0.0.1:35000"), none())));
        out.add(new Entry("driver-status-response-error", "DriverStatusResponse(true, Some(ERROR), None, None, Some(Exception(boom)) with an empty stack trace)",
            new DeployMessages.DriverStatusResponse(true, (Option) new Some<Object>(org.apache.spark.deploy.master.DriverState$.MODULE$.ERROR()),
                none(), none(), new Some<Exception>(noStack(new Exception("boom"))))));
        out.add(new Entry("request-kill-driver", "RequestKillDriver(driverId)",
            new DeployMessages.RequestKillDriver("driver-20261207080000-0000")));
        out.add(new Entry("kill-driver-response", "KillDriverResponse(master, driverId, true, message)",
            new DeployMessages.KillDriverResponse(master, "driver-20261207080000-0000", true,
                "Kill request for driver-20261207080000-0000 submitted")));
        out.add(new Entry("rpc-failure", "RpcFailure(SparkException(boom)) with an empty stack trace",
            new RpcFailure(noStack(new SparkException("boom")))));
        out.add(new Entry("rpc-timeout", "RpcTimeout(120 seconds, spark.rpc.askTimeout)",
            new RpcTimeout(new scala.concurrent.duration.FiniteDuration(120, TimeUnit.SECONDS), "spark.rpc.askTimeout")));
        out.add(new Entry("finite-duration", "FiniteDuration(1500, MILLISECONDS)",
            new scala.concurrent.duration.FiniteDuration(1500, TimeUnit.MILLISECONDS)));
        out.add(new Entry("uri", "java.net.URI spark://Master@127.0.0.1:7077", new URI("spark://Master@127.0.0.1:7077")));
        out.add(new Entry("integer", "java.lang.Integer 42", 42));
        out.add(new Entry("long", "java.lang.Long 1234567890123", 1234567890123L));
        out.add(new Entry("double", "java.lang.Double 2.5", 2.5d));
        out.add(new Entry("string", "java.lang.String with NUL and a non-BMP character", "a\u0000b\u00e9\ud83d\ude00"));
        out.add(new Entry("some-string", "Some(\"x\")", new Some<String>("x")));
        out.add(new Entry("none", "None", scala.None$.MODULE$));
        out.add(new Entry("executor-state-running", "ExecutorState.RUNNING (an Enumeration value)", org.apache.spark.deploy.ExecutorState$.MODULE$.RUNNING()));
        out.add(new Entry("string-array", "String[] {a, b, a} (shared string)", new String[] {"a", "b", "a"}));
        out.add(new Entry("int-array", "int[] {1, 2, 3}", new int[] {1, 2, 3}));
        out.add(new Entry("arrayseq-int", "ArraySeq.ofInt(1, 2, 3)", scala.collection.immutable.ArraySeq$.MODULE$.unsafeWrapArray(new int[] {1, 2, 3})));
        out.add(new Entry("arrayseq-ref", "ArraySeq.ofRef(a, b)", arraySeq("a", "b")));
        out.add(new Entry("set-3", "Set(a, b, c)", set("a", "b", "c")));
        out.add(new Entry("set-40", "Set of 40 strings (HashSet)", set(strings("s", 40))));
        out.add(new Entry("mutable-hashmap", "mutable.HashMap(a -> 1)", mutableMap("a", "1")));
        out.add(new Entry("tuple2", "(a, 1)", new scala.Tuple2<Object, Object>("a", 1)));
        out.add(new Entry("externalizable", "an Externalizable harness class (SC_EXTERNALIZABLE|SC_BLOCK_DATA)", new Ext()));
        out.add(new Entry("proxy", "a dynamic proxy implementing Runnable (TC_PROXYCLASSDESC)",
            java.lang.reflect.Proxy.newProxyInstance(Catalog.class.getClassLoader(), new Class<?>[] {Runnable.class}, new Handler())));
        int[] sizes = {0, 1, 2, 3, 4, 5, 40};
        for (int n : sizes) {
            out.add(new Entry("list-" + n, "List of " + n + " strings", list(strings("e", n))));
        }
        for (int n : sizes) {
            out.add(new Entry("vector-" + n, "Vector of " + n + " strings", vector(strings("e", n))));
        }
        for (int n : sizes) {
            out.add(new Entry("map-" + n, "immutable Map of " + n + " string pairs", map(pairs(n))));
        }
        return out;
    }

    /** Java's own spelling of an object for logs and comparisons: no tabs or newlines. */
    static String show(Object o) {
        return escape(render(o));
    }

    /** Spark's case classes in full (some override toString with less), Options inside out. */
    static String render(Object o) {
        if (o instanceof RpcTimeout) {
            RpcTimeout t = (RpcTimeout) o;
            return "RpcTimeout(" + t.duration() + "," + t.timeoutProp() + ")";
        }
        if (o instanceof scala.Some) {
            return "Some(" + render(((scala.Some<?>) o).get()) + ")";
        }
        if (o instanceof scala.Product && o.getClass().getName().startsWith("org.apache.spark.")
                && !(o instanceof org.apache.spark.rpc.RpcEndpointRef)) {
            scala.Product p = (scala.Product) o;
            StringBuilder b = new StringBuilder(p.productPrefix()).append('(');
            for (int i = 0; i < p.productArity(); i++) {
                if (i > 0) {
                    b.append(',');
                }
                b.append(render(p.productElement(i)));
            }
            return b.append(')').toString();
        }
        String s;
        if (o instanceof Object[]) {
            s = Arrays.deepToString((Object[]) o);
        } else if (o instanceof int[]) {
            s = Arrays.toString((int[]) o);
        } else {
            s = String.valueOf(o);
        }
        return s;
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '\t') {
                b.append("\\t");
            } else if (c == '\n') {
                b.append("\\n");
            } else if (c == '\\') {
                b.append("\\\\");
            } else if (c < 0x20 || c > 0x7e) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** A real server-mode RpcEnv on loopback (port 0). */
    static RpcEnv createEnv() {
        SparkConf conf = conf();
        org.apache.spark.SecurityManager sm = new org.apache.spark.SecurityManager(conf,
            org.apache.spark.SecurityManager$.MODULE$.$lessinit$greater$default$2(),
            org.apache.spark.SecurityManager$.MODULE$.$lessinit$greater$default$3());
        return RpcEnv.create("ember-javaser", "127.0.0.1", 0, conf, sm, false);
    }

    static Map<String, Entry> byName(List<Entry> entries) {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (Entry e : entries) {
            m.put(e.name, e);
        }
        return m;
    }
}
