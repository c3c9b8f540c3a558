package ember.interop.javaser;

import java.io.ByteArrayInputStream;
import java.io.ObjectInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HexFormat;

/**
 * Reads streams written by Ember with a plain ObjectInputStream (Spark's
 * classes on the classpath) and prints, per file, one line:
 * {@code name <TAB> class <TAB> toString <TAB> hex of the object written back}
 * or {@code name <TAB> ERROR <TAB> exception}.
 * Usage: ReadBack file.ser...
 */
public final class ReadBack {
    private ReadBack() {}

    public static void main(String[] args) throws Exception {
        for (String f : args) {
            String name = Paths.get(f).getFileName().toString().replaceFirst("\\.ser$", "");
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(Files.readAllBytes(Paths.get(f))))) {
                Object o = in.readObject();
                if (in.available() != 0 || in.read() != -1) {
                    throw new IllegalStateException("bytes left after the object");
                }
                System.out.println(name + "\t" + o.getClass().getName() + "\t" + Catalog.show(o) + "\t"
                    + HexFormat.of().formatHex(Capture.serialize(o)));
            } catch (Exception e) {
                System.out.println(name + "\tERROR\t" + Catalog.show(e.toString()));
            }
        }
        System.out.flush();
    }
}
