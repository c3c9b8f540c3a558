package ember.interop.javaser;

import java.io.ByteArrayOutputStream;
import java.io.Externalizable;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;
import java.io.ObjectStreamField;
import java.io.OutputStream;
import java.io.Serializable;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Enumeration;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

import org.apache.spark.rpc.RpcEnv;

/**
 * Prints the class table Ember needs for this Spark release: for each
 * class, what ObjectStreamClass.lookup computes (serialVersionUID, fields
 * in wire order) plus the stream flags and the serializable superclass.
 * The classes are every serializable class under a few Spark packages
 * (deploy messages, RPC, resources, cluster messages), a fixed list of
 * Scala and JDK classes, and every class the golden catalog writes.
 * Usage: SuidTable [out.json]   (stdout without an argument)
 */
public final class SuidTable {
    private SuidTable() {}

    private static final String[] PREFIXES = {
        "org/apache/spark/deploy/DeployMessages$",
        "org/apache/spark/deploy/ApplicationDescription",
        "org/apache/spark/deploy/Command",
        "org/apache/spark/deploy/DriverDescription",
        "org/apache/spark/deploy/ExecutorDescription",
        "org/apache/spark/deploy/ExecutorState",
        "org/apache/spark/deploy/master/DriverState",
        "org/apache/spark/deploy/master/ApplicationState",
        "org/apache/spark/deploy/master/WorkerState",
        "org/apache/spark/deploy/master/RecoveryState",
        "org/apache/spark/deploy/worker/WorkerWatcher",
        "org/apache/spark/rpc/Rpc",
        "org/apache/spark/rpc/netty/NettyRpcEndpointRef",
        "org/apache/spark/rpc/netty/RpcEndpointVerifier",
        "org/apache/spark/rpc/netty/RpcFailure",
        "org/apache/spark/rpc/netty/RequestMessage",
        "org/apache/spark/resource/ResourceProfile",
        "org/apache/spark/resource/ExecutorResourceRequest",
        "org/apache/spark/resource/TaskResourceRequest",
        "org/apache/spark/resource/ResourceRequirement",
        "org/apache/spark/resource/ResourceInformation",
        "org/apache/spark/scheduler/cluster/CoarseGrainedClusterMessages$",
        "org/apache/spark/SparkException",
    };

    private static final String[] EXTRA = {
        "java.lang.Boolean", "java.lang.Integer", "java.lang.Long", "java.lang.Double", "java.lang.Float",
        "java.lang.Short", "java.lang.Byte", "java.lang.Character", "java.lang.Number", "java.lang.Enum",
        "java.lang.Throwable", "java.lang.Exception", "java.lang.RuntimeException", "java.lang.IllegalStateException",
        "java.lang.StackTraceElement", "[Ljava.lang.StackTraceElement;", "[Ljava.lang.String;", "[Ljava.lang.Object;",
        "[I", "[J", "[D", "[Z", "[B", "[C", "[S", "[F",
        "java.net.URI", "java.util.concurrent.TimeUnit",
        "java.util.Collections$EmptyList", "java.util.Collections$UnmodifiableList",
        "java.util.Collections$UnmodifiableCollection", "java.util.Collections$UnmodifiableRandomAccessList",
        "java.util.ArrayList",
        "scala.Option", "scala.Some", "scala.None$", "scala.Tuple2", "scala.Tuple3",
        "scala.Enumeration", "scala.Enumeration$Val", "scala.Enumeration$Value",
        "scala.runtime.ModuleSerializationProxy",
        "scala.concurrent.duration.Duration", "scala.concurrent.duration.FiniteDuration",
        "scala.collection.generic.DefaultSerializationProxy", "scala.collection.generic.SerializeEnd$",
        "scala.collection.IterableFactory$ToFactory", "scala.collection.MapFactory$ToFactory",
        "scala.collection.SortedMapFactory$ToFactory", "scala.collection.EvidenceIterableFactory$ToFactory",
        "scala.collection.immutable.List$", "scala.collection.immutable.Nil$", "scala.collection.immutable.$colon$colon",
        "scala.collection.immutable.Vector$", "scala.collection.immutable.HashMap$", "scala.collection.immutable.HashSet$",
        "scala.collection.immutable.Map$", "scala.collection.immutable.Set$", "scala.collection.immutable.Seq$",
        "scala.collection.immutable.IndexedSeq$", "scala.collection.immutable.ListMap$", "scala.collection.immutable.ListSet$",
        "scala.collection.immutable.TreeMap$", "scala.collection.immutable.SortedMap$",
        "scala.collection.immutable.Map$EmptyMap$", "scala.collection.immutable.Map$Map1", "scala.collection.immutable.Map$Map2",
        "scala.collection.immutable.Map$Map3", "scala.collection.immutable.Map$Map4",
        "scala.collection.immutable.Set$EmptySet$", "scala.collection.immutable.Set$Set1", "scala.collection.immutable.Set$Set2",
        "scala.collection.immutable.Set$Set3", "scala.collection.immutable.Set$Set4",
        "scala.collection.immutable.ArraySeq", "scala.collection.immutable.ArraySeq$",
        "scala.collection.immutable.ArraySeq$ofRef", "scala.collection.immutable.ArraySeq$ofInt",
        "scala.collection.immutable.ArraySeq$ofLong", "scala.collection.immutable.ArraySeq$ofDouble",
        "scala.collection.immutable.ArraySeq$ofFloat", "scala.collection.immutable.ArraySeq$ofBoolean",
        "scala.collection.immutable.ArraySeq$ofByte", "scala.collection.immutable.ArraySeq$ofChar",
        "scala.collection.immutable.ArraySeq$ofShort", "scala.collection.immutable.ArraySeq$ofUnit",
        "scala.collection.mutable.HashMap$", "scala.collection.mutable.HashMap$DeserializationFactory",
        "scala.collection.mutable.HashSet$", "scala.collection.mutable.HashSet$DeserializationFactory",
        "scala.collection.mutable.ArrayBuffer$", "scala.collection.mutable.ListBuffer$",
        "scala.collection.mutable.LinkedHashMap$", "scala.collection.mutable.Map$",
    };

    /** An ObjectOutputStream that only records the classes whose descriptors it writes. */
    static final class Recorder extends ObjectOutputStream {
        final TreeSet<String> seen;

        Recorder(TreeSet<String> seen) throws IOException {
            super(OutputStream.nullOutputStream());
            this.seen = seen;
        }

        @Override
        protected void annotateClass(Class<?> cl) {
            seen.add(cl.getName());
        }
    }

    static boolean hasWriteObject(Class<?> cl) {
        try {
            Method m = cl.getDeclaredMethod("writeObject", ObjectOutputStream.class);
            int mod = m.getModifiers();
            return m.getReturnType() == Void.TYPE && Modifier.isPrivate(mod) && !Modifier.isStatic(mod);
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** One table line, or null when the class is not serializable. */
    static String entry(Class<?> cl) {
        ObjectStreamClass osc = ObjectStreamClass.lookup(cl);
        if (osc == null) {
            return null;
        }
        int flags = 0;
        if (Enum.class.isAssignableFrom(cl)) {
            flags = 0x02 | 0x10;
        } else if (Externalizable.class.isAssignableFrom(cl)) {
            flags = 0x04 | 0x08;
        } else if (Serializable.class.isAssignableFrom(cl)) {
            flags = 0x02;
            if (hasWriteObject(cl)) {
                flags |= 0x01;
            }
        }
        StringBuilder b = new StringBuilder();
        b.append("{\"name\": ").append(quote(cl.getName()))
            .append(", \"suid\": ").append(osc.getSerialVersionUID())
            .append(", \"flags\": ").append(flags);
        Class<?> sup = cl.getSuperclass();
        if (sup != null && ObjectStreamClass.lookup(sup) != null) {
            b.append(", \"super\": ").append(quote(sup.getName()));
        }
        ObjectStreamField[] fields = osc.getFields();
        if (fields.length > 0) {
            b.append(", \"fields\": [");
            for (int i = 0; i < fields.length; i++) {
                ObjectStreamField f = fields[i];
                if (i > 0) {
                    b.append(", ");
                }
                b.append("{\"name\": ").append(quote(f.getName())).append(", \"type\": \"").append(f.getTypeCode()).append('"');
                if (!f.isPrimitive()) {
                    b.append(", \"class\": ").append(quote(f.getTypeString()));
                }
                b.append('}');
            }
            b.append(']');
        }
        return b.append('}').toString();
    }

    static TreeSet<String> classNames(List<Catalog.Entry> catalog) throws Exception {
        TreeSet<String> names = new TreeSet<>();
        String home = System.getenv("SPARK_HOME");
        Path core = null;
        try (var files = Files.list(Paths.get(home, "jars"))) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (p.getFileName().toString().startsWith("spark-core_")) {
                    core = p;
                }
            }
        }
        try (JarFile jar = new JarFile(core.toFile())) {
            Enumeration<JarEntry> en = jar.entries();
            while (en.hasMoreElements()) {
                String n = en.nextElement().getName();
                if (!n.endsWith(".class") || n.contains("$anon") || n.contains("$lambda") || n.contains("$$")) {
                    continue;
                }
                for (String p : PREFIXES) {
                    if (n.startsWith(p)) {
                        names.add(n.substring(0, n.length() - ".class".length()).replace('/', '.'));
                    }
                }
            }
        }
        for (String n : EXTRA) {
            names.add(n);
        }
        for (Catalog.Entry e : catalog) {
            try (Recorder r = new Recorder(names)) {
                r.writeObject(e.value);
            }
        }
        return names;
    }

    static String table(List<Catalog.Entry> catalog) throws Exception {
        TreeMap<String, String> lines = new TreeMap<>();
        ClassLoader loader = SuidTable.class.getClassLoader();
        for (String n : classNames(catalog)) {
            if (n.startsWith("ember.")) {
                continue; // the harness's own classes
            }
            Class<?> cl;
            try {
                cl = Class.forName(n, false, loader);
            } catch (Throwable t) {
                continue;
            }
            // The class and its serializable superclasses (a descriptor names its super).
            for (Class<?> c = cl; c != null && !lines.containsKey(c.getName()); c = c.getSuperclass()) {
                String line = entry(c);
                if (line == null) {
                    break;
                }
                lines.put(c.getName(), line);
            }
        }
        StringBuilder b = new StringBuilder();
        b.append("{\n  \"spark\": ").append(quote(org.apache.spark.package$.MODULE$.SPARK_VERSION()))
            .append(",\n  \"scala\": ").append(quote(scala.util.Properties$.MODULE$.versionNumberString()))
            .append(",\n  \"classes\": [\n");
        int i = 0;
        for (String line : lines.values()) {
            b.append("    ").append(line).append(++i < lines.size() ? ",\n" : "\n");
        }
        b.append("  ]\n}\n");
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        RpcEnv env = Catalog.createEnv();
        String out;
        try {
            out = table(Catalog.build(env));
        } finally {
            env.shutdown();
        }
        if (args.length > 0) {
            Files.write(Paths.get(args[0]), out.getBytes(StandardCharsets.UTF_8));
        } else {
            System.out.print(out);
            System.out.flush();
        }
    }
}
