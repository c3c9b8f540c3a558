package ember.interop.golden;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.FileRegion;
import io.netty.channel.embedded.EmbeddedChannel;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.buffer.NettyManagedBuffer;
import org.apache.spark.network.buffer.NioManagedBuffer;
import org.apache.spark.network.protocol.ChunkFetchFailure;
import org.apache.spark.network.protocol.ChunkFetchRequest;
import org.apache.spark.network.protocol.ChunkFetchSuccess;
import org.apache.spark.network.protocol.Encoders;
import org.apache.spark.network.protocol.MergedBlockMetaRequest;
import org.apache.spark.network.protocol.MergedBlockMetaSuccess;
import org.apache.spark.network.protocol.Message;
import org.apache.spark.network.protocol.MessageDecoder;
import org.apache.spark.network.protocol.MessageEncoder;
import org.apache.spark.network.protocol.OneWayMessage;
import org.apache.spark.network.protocol.RpcFailure;
import org.apache.spark.network.protocol.RpcRequest;
import org.apache.spark.network.protocol.RpcResponse;
import org.apache.spark.network.protocol.StreamChunkId;
import org.apache.spark.network.protocol.StreamFailure;
import org.apache.spark.network.protocol.StreamRequest;
import org.apache.spark.network.protocol.StreamResponse;
import org.apache.spark.network.protocol.UploadStream;
import org.apache.spark.network.shuffle.checksum.Cause;
import org.apache.spark.network.shuffle.protocol.BlockPushReturnCode;
import org.apache.spark.network.shuffle.protocol.BlockTransferMessage;
import org.apache.spark.network.shuffle.protocol.BlocksRemoved;
import org.apache.spark.network.shuffle.protocol.CorruptionCause;
import org.apache.spark.network.shuffle.protocol.DiagnoseCorruption;
import org.apache.spark.network.shuffle.protocol.ExecutorShuffleInfo;
import org.apache.spark.network.shuffle.protocol.FetchShuffleBlockChunks;
import org.apache.spark.network.shuffle.protocol.FetchShuffleBlocks;
import org.apache.spark.network.shuffle.protocol.FinalizeShuffleMerge;
import org.apache.spark.network.shuffle.protocol.GetLocalDirsForExecutors;
import org.apache.spark.network.shuffle.protocol.LocalDirsForExecutors;
import org.apache.spark.network.shuffle.protocol.MergeStatuses;
import org.apache.spark.network.shuffle.protocol.OpenBlocks;
import org.apache.spark.network.shuffle.protocol.PushBlockStream;
import org.apache.spark.network.shuffle.protocol.RegisterExecutor;
import org.apache.spark.network.shuffle.protocol.RemoveBlocks;
import org.apache.spark.network.shuffle.protocol.RemoveShuffleMerge;
import org.apache.spark.network.shuffle.protocol.StreamHandle;
import org.apache.spark.network.shuffle.protocol.UploadBlock;
import org.apache.spark.network.shuffle.protocol.UploadBlockStream;
import org.roaringbitmap.RoaringBitmap;

/**
 * Writes golden vectors with Spark's own encoders: every transport message
 * type framed by MessageEncoder (what goes on the socket), and the
 * BlockTransferMessages of the shuffle protocol as RPC payloads.
 *
 * <p>Usage: {@code Generate <transportDir> <shuffleDir>}. Each vector is a
 * {@code .hex} file of two lines, {@code # description} and the bytes in
 * lowercase hex; each directory gets an {@code index.txt}. The field values
 * are those of the Spark 3.1.2 vectors (shared/spec/golden), plus the types
 * that 3.1.2 did not have. Every vector is decoded back with Spark's
 * decoders and must re-encode to the same bytes (transport) or compare
 * equal (shuffle); otherwise the generator fails.
 */
public final class Generate {
  static final long REQ = 0x0102030405060708L;
  static final long STREAM = 0x1122334455667788L;

  private Generate() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: Generate <transportDir> <shuffleDir>");
      System.exit(2);
    }
    writeTransport(Path.of(args[0]));
    writeShuffle(Path.of(args[1]));
  }

  static ManagedBuffer bytes(String s) {
    return new NioManagedBuffer(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
  }

  static ManagedBuffer bytes(byte[] b) {
    return new NioManagedBuffer(ByteBuffer.wrap(b));
  }

  static RoaringBitmap bitmap(int... values) {
    return RoaringBitmap.bitmapOf(values);
  }

  /** The bitmaps concatenated as Spark writes them (Encoders.Bitmaps). */
  static byte[] bitmaps(RoaringBitmap... bms) {
    ByteBuf b = Unpooled.buffer();
    for (RoaringBitmap bm : bms) {
      Encoders.Bitmaps.encode(b, bm);
    }
    byte[] out = new byte[b.readableBytes()];
    b.readBytes(out);
    return out;
  }

  static final class Vector {
    final String file;
    final String desc;
    final byte[] bytes;
    final long frameLength; // -1 for payloads

    Vector(String file, String desc, byte[] bytes, long frameLength) {
      this.file = file;
      this.desc = desc;
      this.bytes = bytes;
      this.frameLength = frameLength;
    }
  }

  // ---- transport ----

  /** What MessageEncoder writes to the socket for m. */
  static byte[] encodeFrame(Message m) throws IOException {
    EmbeddedChannel ch = new EmbeddedChannel(MessageEncoder.INSTANCE);
    ch.writeOutbound(m);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    WritableByteChannel sink = Channels.newChannel(out);
    Object o;
    while ((o = ch.readOutbound()) != null) {
      if (o instanceof ByteBuf) {
        ByteBuf b = (ByteBuf) o;
        byte[] x = new byte[b.readableBytes()];
        b.readBytes(x);
        out.write(x);
        b.release();
      } else if (o instanceof FileRegion) {
        FileRegion r = (FileRegion) o;
        while (r.transferred() < r.count()) {
          r.transferTo(sink, r.transferred());
        }
        r.release();
      } else {
        throw new IllegalStateException("unexpected outbound " + o.getClass());
      }
    }
    ch.finishAndReleaseAll();
    return out.toByteArray();
  }

  /** Spark's frame and message decoders over the frame part of v. */
  static Message decodeFrame(byte[] frame) {
    EmbeddedChannel ch = new EmbeddedChannel(new org.apache.spark.network.util.TransportFrameDecoder(),
        MessageDecoder.INSTANCE);
    ch.writeInbound(Unpooled.wrappedBuffer(frame));
    Message m = ch.readInbound();
    if (m == null || ch.readInbound() != null) {
      throw new IllegalStateException("the frame did not decode to one message");
    }
    return m;
  }

  static Vector frame(String file, String desc, Message m) throws IOException {
    byte[] b = encodeFrame(m);
    long frameLength = ByteBuffer.wrap(b).getLong();
    byte[] frame = Arrays.copyOf(b, (int) frameLength);
    Message back = decodeFrame(frame);
    if (back.type() != m.type()) {
      throw new IllegalStateException(file + ": decoded back as " + back.type());
    }
    // Decoded messages carry their in-frame body; the raw bytes after a
    // StreamResponse/UploadStream frame are not part of it.
    byte[] again = encodeFrame(back);
    if (!Arrays.equals(again, frame)) {
      throw new IllegalStateException(file + ": decoding and re-encoding changed the bytes");
    }
    String extra = b.length > frameLength
        ? " [frameLength=" + frameLength + " covers the header only; " + (b.length - frameLength)
            + " body bytes follow outside the frame]"
        : " [frameLength=" + frameLength + "]";
    return new Vector(file, desc + extra, b, frameLength);
  }

  static void writeTransport(Path dir) throws IOException {
    StreamChunkId chunk = new StreamChunkId(STREAM, 3);
    byte[] seq = new byte[16];
    for (int i = 0; i < seq.length; i++) {
      seq[i] = (byte) i;
    }
    byte[] meta = bitmaps(bitmap(1), bitmap(2, 3));
    List<Vector> v = new ArrayList<>();
    v.add(frame("01_rpc_request.hex",
        "RpcRequest(type=3) requestId=0x0102030405060708 body=\"hello\"", new RpcRequest(REQ, bytes("hello"))));
    v.add(frame("02_rpc_request_empty.hex",
        "RpcRequest(type=3) requestId=42 body=<0 bytes>", new RpcRequest(42, bytes(""))));
    v.add(frame("03_rpc_response.hex",
        "RpcResponse(type=4) requestId=0x0102030405060708 body=\"world\"", new RpcResponse(REQ, bytes("world"))));
    v.add(frame("04_rpc_response_empty.hex",
        "RpcResponse(type=4) requestId=42 body=<0 bytes>", new RpcResponse(42, bytes(""))));
    v.add(frame("05_rpc_failure.hex",
        "RpcFailure(type=5) requestId=0x0102030405060708 errorString=\"boom\"", new RpcFailure(REQ, "boom")));
    v.add(frame("06_rpc_failure_utf8.hex",
        "RpcFailure(type=5) requestId=7 errorString=\"b\\u00f6\\u00f6m \\u2603\" (UTF-8, length prefix counts bytes=10)",
        new RpcFailure(7, "b\u00f6\u00f6m \u2603")));
    v.add(frame("07_oneway.hex", "OneWayMessage(type=9) body=\"ping\"", new OneWayMessage(bytes("ping"))));
    v.add(frame("08_chunk_fetch_request.hex",
        "ChunkFetchRequest(type=0) streamId=0x1122334455667788 chunkIndex=3", new ChunkFetchRequest(chunk)));
    v.add(frame("09_chunk_fetch_success.hex",
        "ChunkFetchSuccess(type=1) streamId=0x1122334455667788 chunkIndex=3 body=00..0f (16 bytes)",
        new ChunkFetchSuccess(chunk, bytes(seq))));
    v.add(frame("10_chunk_fetch_failure.hex",
        "ChunkFetchFailure(type=2) streamId=0x1122334455667788 chunkIndex=3 errorString=\"no such chunk\"",
        new ChunkFetchFailure(chunk, "no such chunk")));
    v.add(frame("11_stream_request.hex",
        "StreamRequest(type=6) streamId=\"file:/tmp/x.bin\"", new StreamRequest("file:/tmp/x.bin")));
    v.add(frame("12_stream_response.hex",
        "StreamResponse(type=7) streamId=\"file:/tmp/x.bin\" byteCount=10 body=\"0123456789\"",
        new StreamResponse("file:/tmp/x.bin", 10, bytes("0123456789"))));
    v.add(frame("13_stream_response_empty.hex",
        "StreamResponse(type=7) streamId=\"s\" byteCount=0 body=null", new StreamResponse("s", 0, null)));
    v.add(frame("14_stream_failure.hex",
        "StreamFailure(type=8) streamId=\"file:/tmp/x.bin\" error=\"not found\"",
        new StreamFailure("file:/tmp/x.bin", "not found")));
    v.add(frame("15_upload_stream.hex",
        "UploadStream(type=10) requestId=0x0102030405060708 meta=\"meta\" bodyByteCount=11 body=\"upload-data\"",
        new UploadStream(REQ, bytes("meta"), bytes("upload-data"))));
    v.add(frame("16_merged_block_meta_request.hex",
        "MergedBlockMetaRequest(type=11) requestId=0x0102030405060708 appId=\"app-1\" shuffleId=2 shuffleMergeId=3 reduceId=4",
        new MergedBlockMetaRequest(REQ, "app-1", 2, 3, 4)));
    v.add(frame("17_merged_block_meta_success.hex",
        "MergedBlockMetaSuccess(type=12) requestId=0x0102030405060708 numChunks=2 body=bitmaps {1},{2,3} ("
            + meta.length + " bytes, Encoders.Bitmaps)",
        new MergedBlockMetaSuccess(REQ, 2, new NettyManagedBuffer(Unpooled.wrappedBuffer(meta)))));
    v.add(frame("18_merged_block_meta_success_empty.hex",
        "MergedBlockMetaSuccess(type=12) requestId=0x0102030405060708 numChunks=0 body=<0 bytes>",
        new MergedBlockMetaSuccess(REQ, 0, bytes(""))));
    v.add(frame("40_rpc_request_open_blocks.hex",
        "RpcRequest(type=3) requestId=0x0102030405060708 body=OpenBlocks(appId=app-1, execId=exec-1, blockIds=[shuffle_0_1_2])",
        new RpcRequest(REQ, new NioManagedBuffer(
            new OpenBlocks("app-1", "exec-1", new String[] {"shuffle_0_1_2"}).toByteBuffer()))));
    write(dir, v, "complete transport frames as MessageEncoder writes them to the socket (8-byte BE frameLength"
        + " counting itself, 1-byte type, fields, body). For StreamResponse/UploadStream the body is not"
        + " counted in frameLength and follows the frame. header_len = frameLength.");
  }

  // ---- shuffle ----

  static Vector payload(String file, String desc, BlockTransferMessage m) {
    byte[] b = bytes(m.toByteBuffer());
    BlockTransferMessage back = BlockTransferMessage.Decoder.fromByteBuffer(ByteBuffer.wrap(b));
    if (!back.equals(m) || !Arrays.equals(bytes(back.toByteBuffer()), b)) {
      throw new IllegalStateException(file + ": decoded back as " + back);
    }
    return new Vector(file, desc + " | decoded-back: " + back, b, -1);
  }

  static byte[] bytes(ByteBuffer bb) {
    byte[] b = new byte[bb.remaining()];
    bb.duplicate().get(b);
    return b;
  }

  static void writeShuffle(Path dir) throws IOException {
    List<Vector> v = new ArrayList<>();
    v.add(payload("20_shuffle_open_blocks.hex",
        "OpenBlocks(type=0) appId=app-1 execId=exec-1 blockIds=[shuffle_0_1_2, shuffle_0_1_3]",
        new OpenBlocks("app-1", "exec-1", new String[] {"shuffle_0_1_2", "shuffle_0_1_3"})));
    v.add(payload("21_shuffle_upload_block.hex",
        "UploadBlock(type=1) appId=app-1 execId=exec-1 blockId=rdd_1_2 metadata=\"meta\" blockData=\"data!\"",
        new UploadBlock("app-1", "exec-1", "rdd_1_2", utf8("meta"), utf8("data!"))));
    v.add(payload("22_shuffle_register_executor.hex",
        "RegisterExecutor(type=2) appId=app-1 execId=exec-1 executorInfo={localDirs=[/tmp/a,/tmp/b],"
            + " subDirsPerLocalDir=64, shuffleManager=org.apache.spark.shuffle.sort.SortShuffleManager}",
        new RegisterExecutor("app-1", "exec-1", new ExecutorShuffleInfo(new String[] {"/tmp/a", "/tmp/b"}, 64,
            "org.apache.spark.shuffle.sort.SortShuffleManager"))));
    v.add(payload("23_shuffle_stream_handle.hex", "StreamHandle(type=3) streamId=0x1122334455667788 numChunks=5",
        new StreamHandle(STREAM, 5)));
    v.add(payload("24_shuffle_upload_block_stream.hex", "UploadBlockStream(type=6) blockId=rdd_1_2 metadata=\"meta\"",
        new UploadBlockStream("rdd_1_2", utf8("meta"))));
    v.add(payload("25_shuffle_remove_blocks.hex", "RemoveBlocks(type=7) appId=app-1 execId=exec-1 blockIds=[rdd_1_2]",
        new RemoveBlocks("app-1", "exec-1", new String[] {"rdd_1_2"})));
    v.add(payload("26_shuffle_blocks_removed.hex", "BlocksRemoved(type=8) numRemovedBlocks=1", new BlocksRemoved(1)));
    v.add(payload("27_shuffle_fetch_shuffle_blocks.hex",
        "FetchShuffleBlocks(type=9) appId=app-1 execId=exec-1 shuffleId=0 mapIds=[1,2] reduceIds=[[0,1],[2]]"
            + " batchFetchEnabled=false",
        new FetchShuffleBlocks("app-1", "exec-1", 0, new long[] {1, 2}, new int[][] {{0, 1}, {2}}, false)));
    v.add(payload("28_shuffle_fetch_shuffle_blocks_batch.hex",
        "FetchShuffleBlocks(type=9) appId=app-1 execId=exec-1 shuffleId=3 mapIds=[5] reduceIds=[[0,4]]"
            + " batchFetchEnabled=true",
        new FetchShuffleBlocks("app-1", "exec-1", 3, new long[] {5}, new int[][] {{0, 4}}, true)));
    v.add(payload("29_shuffle_get_local_dirs.hex",
        "GetLocalDirsForExecutors(type=10) appId=app-1 execIds=[exec-1, exec-2]",
        new GetLocalDirsForExecutors("app-1", new String[] {"exec-1", "exec-2"})));
    Map<String, String[]> dirs = new LinkedHashMap<>();
    dirs.put("exec-1", new String[] {"/tmp/a"});
    v.add(payload("30_shuffle_local_dirs.hex", "LocalDirsForExecutors(type=11) {exec-1: [/tmp/a]}",
        new LocalDirsForExecutors(dirs)));
    v.add(payload("31_shuffle_push_block_stream.hex",
        "PushBlockStream(type=12) appId=app-1 appAttemptId=1 shuffleId=2 shuffleMergeId=3 mapIndex=4 reduceId=5 index=6",
        new PushBlockStream("app-1", 1, 2, 3, 4, 5, 6)));
    v.add(payload("32_shuffle_finalize_shuffle_merge.hex",
        "FinalizeShuffleMerge(type=13) appId=app-1 appAttemptId=1 shuffleId=2 shuffleMergeId=3",
        new FinalizeShuffleMerge("app-1", 1, 2, 3)));
    RoaringBitmap run = new RoaringBitmap();
    run.add(0L, 100L);
    v.add(payload("33_shuffle_merge_statuses.hex",
        "MergeStatuses(type=14) shuffleId=2 shuffleMergeId=3 bitmaps=[{1,2,3}, {0..99}] reduceIds=[0,1]"
            + " sizes=[100,200]",
        new MergeStatuses(2, 3, new RoaringBitmap[] {bitmap(1, 2, 3), run}, new int[] {0, 1}, new long[] {100, 200})));
    v.add(payload("34_shuffle_fetch_shuffle_block_chunks.hex",
        "FetchShuffleBlockChunks(type=15) appId=app-1 execId=exec-1 shuffleId=2 shuffleMergeId=3 reduceIds=[0,1]"
            + " chunkIds=[[0,1],[2]]",
        new FetchShuffleBlockChunks("app-1", "exec-1", 2, 3, new int[] {0, 1}, new int[][] {{0, 1}, {2}})));
    v.add(payload("35_shuffle_diagnose_corruption.hex",
        "DiagnoseCorruption(type=16) appId=app-1 execId=exec-1 shuffleId=2 mapId=5 reduceId=3"
            + " checksum=0x1234567890 algorithm=ADLER32",
        new DiagnoseCorruption("app-1", "exec-1", 2, 5L, 3, 0x1234567890L, "ADLER32")));
    v.add(payload("36_shuffle_corruption_cause.hex", "CorruptionCause(type=17) cause=CHECKSUM_VERIFY_PASS(3)",
        new CorruptionCause(Cause.CHECKSUM_VERIFY_PASS)));
    v.add(payload("37_shuffle_block_push_return_code.hex",
        "BlockPushReturnCode(type=18) returnCode=1 (TOO_LATE_BLOCK_PUSH) failureBlockId=shufflePush_2_3_4_5",
        new BlockPushReturnCode((byte) 1, "shufflePush_2_3_4_5")));
    v.add(payload("38_shuffle_remove_shuffle_merge.hex",
        "RemoveShuffleMerge(type=19) appId=app-1 appAttemptId=1 shuffleId=2 shuffleMergeId=3",
        new RemoveShuffleMerge("app-1", 1, 2, 3)));
    write(dir, v, "network-shuffle BlockTransferMessage RPC payloads (BlockTransferMessage.toByteBuffer:"
        + " 1-byte type id, then the fields). Each decodes back with BlockTransferMessage.Decoder to an"
        + " equal message.");
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static void write(Path dir, List<Vector> vectors, String what) throws IOException {
    Files.createDirectories(dir);
    StringBuilder index = new StringBuilder();
    index.append("# Golden vectors: bytes written by Apache Spark ")
        .append(org.apache.spark.network.TransportContext.class.getPackage().getImplementationVersion() == null
            ? "4.1.4" : org.apache.spark.network.TransportContext.class.getPackage().getImplementationVersion())
        .append("'s own encoders (spark-network-common / spark-network-shuffle jars),\n")
        .append("# produced by internal/interop/jvm/golden/Generate.java; regenerate and compare with\n")
        .append("# go test -run TestGolden41Regenerate ./internal/interop/transport/\n")
        .append("# Each .hex file: line 1 '# description', line 2 lowercase hex of the exact bytes.\n")
        .append("# These are ").append(what).append("\n")
        .append("# Strings = 4-byte BE length (bytes) + UTF-8; byte arrays = 4-byte BE length + bytes;\n")
        .append("# all integers big-endian.\n");
    for (Vector x : vectors) {
      String hex = HexFormat.of().formatHex(x.bytes);
      Files.writeString(dir.resolve(x.file), "# " + x.desc + "\n" + hex + "\n");
      index.append(String.format("%-42s len=%-4d header_len=%-4s %s%n", x.file, x.bytes.length,
          x.frameLength < 0 ? "-" : Long.toString(x.frameLength), x.desc));
    }
    Files.writeString(dir.resolve("index.txt"), index.toString());
  }
}
