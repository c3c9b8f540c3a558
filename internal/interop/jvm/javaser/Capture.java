package ember.interop.javaser;

import java.io.ByteArrayOutputStream;
import java.io.ObjectOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

import org.apache.spark.rpc.RpcEnv;

/**
 * Writes every catalog object with a plain ObjectOutputStream to
 * {@code <dir>/<name>.ser} and an index ({@code index.tsv}: name, class,
 * description, Java's toString).
 * Usage: Capture <dir>
 */
public final class Capture {
    private Capture() {}

    static byte[] serialize(Object o) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        return bytes.toByteArray();
    }

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args[0]);
        Files.createDirectories(dir);
        RpcEnv env = Catalog.createEnv();
        try {
            List<Catalog.Entry> entries = Catalog.build(env);
            StringBuilder index = new StringBuilder();
            index.append("# Golden Java serialization streams written by ObjectOutputStream from Spark ")
                .append(org.apache.spark.package$.MODULE$.SPARK_VERSION())
                .append(" (Scala ").append(scala.util.Properties$.MODULE$.versionNumberString())
                .append(") by internal/interop/jvm/javaser/Capture.java.\n")
                .append("# name\tclass\tdescription\tJava toString\n");
            for (Catalog.Entry e : entries) {
                Files.write(dir.resolve(e.name + ".ser"), serialize(e.value));
                String cls = java.lang.reflect.Proxy.isProxyClass(e.value.getClass()) ? "proxy" : e.value.getClass().getName();
                index.append(e.name).append('\t').append(cls).append('\t')
                    .append(e.about).append('\t').append(Catalog.show(e.value)).append('\n');
            }
            // A write that fails half way: ObjectOutputStream writes TC_EXCEPTION and the exception.
            ByteArrayOutputStream aborted = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(aborted)) {
                out.writeObject(new Object[] {"partial", new Object()});
                throw new IllegalStateException("a plain Object was serialized");
            } catch (java.io.NotSerializableException expected) {
                // the stream now ends with TC_EXCEPTION
            }
            Files.write(dir.resolve("write-aborted.ser"), aborted.toByteArray());
            index.append("write-aborted\t[Ljava.lang.Object;\tObject[] {\"partial\", new Object()}: the write aborts with TC_EXCEPTION\tNotSerializableException\n");
            Files.write(dir.resolve("index.tsv"), index.toString().getBytes(StandardCharsets.UTF_8));
        } finally {
            env.shutdown();
        }
    }
}
