package ember.interop.auth;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.network.buffer.FileSegmentManagedBuffer;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.client.RpcResponseCallback;
import org.apache.spark.network.client.StreamCallbackWithID;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.server.OneForOneStreamManager;
import org.apache.spark.network.server.RpcHandler;
import org.apache.spark.network.server.StreamManager;
import org.apache.spark.network.util.TransportConf;

/**
 * The application behind the peer's servers: RPCs are echoed, registered
 * files are served as one-chunk streams, and an uploaded stream is hashed,
 * its SHA-256 (hex) being the upload's reply. It counts what reaches it, so
 * a test can tell that an unauthenticated peer got nowhere.
 */
final class AuthHandler extends RpcHandler {
  final AtomicInteger rpcs = new AtomicInteger();
  final AtomicInteger uploads = new AtomicInteger();
  private final OneForOneStreamManager streams = new OneForOneStreamManager();
  private final TransportConf conf;

  AuthHandler(TransportConf conf) {
    this.conf = conf;
  }

  long registerFile(File f, String appId) {
    ManagedBuffer b = new FileSegmentManagedBuffer(conf, f, 0, f.length());
    return streams.registerStream(appId, List.of(b).iterator(), null);
  }

  @Override
  public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
    rpcs.incrementAndGet();
    ByteBuffer copy = ByteBuffer.allocate(message.remaining());
    copy.put(message).flip();
    callback.onSuccess(copy);
  }

  @Override
  public StreamCallbackWithID receiveStream(
      TransportClient client, ByteBuffer header, RpcResponseCallback callback) {
    uploads.incrementAndGet();
    MessageDigest d;
    try {
      d = MessageDigest.getInstance("SHA-256");
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    String id = "upload-" + uploads.get();
    return new StreamCallbackWithID() {
      private String hash = "";

      @Override
      public String getID() {
        return id;
      }

      @Override
      public void onData(String streamId, ByteBuffer buf) {
        d.update(buf);
      }

      @Override
      public void onComplete(String streamId) {
        hash = HexFormat.of().formatHex(d.digest());
      }

      @Override
      public void onFailure(String streamId, Throwable cause) {
        cause.printStackTrace();
      }

      @Override
      public ByteBuffer getCompletionResponse() {
        return ByteBuffer.wrap(hash.getBytes(StandardCharsets.UTF_8));
      }
    };
  }

  @Override
  public StreamManager getStreamManager() {
    return streams;
  }
}
