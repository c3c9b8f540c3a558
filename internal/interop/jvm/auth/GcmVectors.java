package ember.interop.auth;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;

import javax.crypto.spec.SecretKeySpec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.FileRegion;
import io.netty.channel.embedded.EmbeddedChannel;

import org.apache.spark.network.crypto.GcmTransportCipher;

/**
 * Spark's AES-GCM session cipher on its own, without sockets: its Netty
 * handlers on an {@link EmbeddedChannel}, to seal one write into a record
 * and to open a stream of records fed in arbitrary pieces.
 */
final class GcmVectors {
  private GcmVectors() {}

  /** The plaintext pattern both sides make: byte i is i*7 + i/256. */
  static byte[] pattern(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (i * 7 + (i >> 8));
    }
    return b;
  }

  private static EmbeddedChannel channel(String keyHex) throws Exception {
    EmbeddedChannel ch = new EmbeddedChannel();
    new GcmTransportCipher(new SecretKeySpec(HexFormat.of().parseHex(keyHex), "AES")).addToChannel(ch);
    return ch;
  }

  /** One write of pattern(size) as Spark's encryption handler puts it on the wire. */
  static byte[] seal(String keyHex, int size) throws Exception {
    EmbeddedChannel ch = channel(keyHex);
    try {
      ch.writeOutbound(Unpooled.wrappedBuffer(pattern(size)));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      WritableByteChannel target = Channels.newChannel(out);
      Object o;
      while ((o = ch.readOutbound()) != null) {
        if (o instanceof FileRegion r) {
          while (r.transferred() < r.count()) {
            r.transferTo(target, r.transferred());
          }
          r.release();
        } else if (o instanceof ByteBuf b) {
          byte[] x = new byte[b.readableBytes()];
          b.readBytes(x);
          out.write(x);
          b.release();
        } else {
          throw new IllegalStateException("unexpected outbound " + o.getClass());
        }
      }
      return out.toByteArray();
    } finally {
      ch.finishAndReleaseAll();
    }
  }

  /**
   * Feeds wire to Spark's decryption handler in pieces of pseudo-random
   * sizes (from seed) and returns "len sha256" of the plaintext.
   */
  static String open(String keyHex, byte[] wire, long seed) throws Exception {
    EmbeddedChannel ch = channel(keyHex);
    MessageDigest d = MessageDigest.getInstance("SHA-256");
    long total = 0;
    Random r = new Random(seed);
    try {
      for (int off = 0; off < wire.length; ) {
        int n = Math.min(wire.length - off, 1 + r.nextInt(70000));
        ch.writeInbound(Unpooled.wrappedBuffer(wire, off, n));
        off += n;
        Object o;
        while ((o = ch.readInbound()) != null) {
          ByteBuf b = (ByteBuf) o;
          ByteBuffer nio = ByteBuffer.allocate(b.readableBytes());
          b.readBytes(nio);
          b.release();
          nio.flip();
          total += nio.remaining();
          d.update(nio);
        }
      }
      ch.checkException();
      return total + " " + HexFormat.of().formatHex(d.digest());
    } finally {
      ch.finishAndReleaseAll();
    }
  }
}
