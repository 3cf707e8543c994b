/// The background writer (libpcap → fopencookie streams whose buffers are pool chunks →
/// the writer thread and the simulation thread) must give exactly the bytes a plain
/// sequential writer would: every record, in order, across many buffer hand-offs, records
/// larger than a buffer, interleaved files and a pool so small that the calling thread
/// writes most chunks itself — and not one byte more.
@testable import Capture
import Datapath
import Engine
import Foundation
import Testing

@Suite struct BackgroundWriterTests {
    @Test func largeCapturesCrossWindowsAndReadBackExactly() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: CaptureOptions(directory: dir.path))
        let a = SampleCluster.device("pi-1-client-eth0"), b = SampleCluster.device("pi-2-eth0")
        // ~4.8 MiB into one file (about twenty 256 KiB buffers) and every third frame into
        // another, interleaved, with varied lengths so that hand-offs fall after records
        // of many sizes.
        var expectedA: [[UInt8]] = [], expectedB: [[UInt8]] = []
        for i in 0..<6_500 {
            var frame = Frames.udp(length: 60 + (i * 37) % 1380)
            frame[frame.count - 1] = UInt8(truncatingIfNeeded: i)
            frame[frame.count - 2] = UInt8(truncatingIfNeeded: i >> 8)
            capture.observe(frame, at: Int64(i) * 1_000, on: a)
            expectedA.append(frame)
            if i % 3 == 0 {
                capture.observe(frame, at: Int64(i) * 1_000 + 1, on: b)
                expectedB.append(frame)
            }
        }
        _ = try capture.finish()
        for (stem, expected) in [("pi-1-client-eth0", expectedA), ("pi-2-eth0", expectedB)] {
            let read = try PcapReader.read(path: dir.file(stem + ".pcap"))
            #expect(read.packets.count == expected.count)
            #expect(read.packets.map(\.bytes) == expected, "\(stem): records differ")
            let size = try dir.bytes(stem + ".pcap").count
            #expect(size == 24 + expected.reduce(0) { $0 + 16 + $1.count }, "\(stem): file is not exactly its records")
        }
        #expect(try dir.bytes("pi-1-client-eth0.pcap").count > 4 << 20)
    }

    /// A record longer than a stream's buffer (a 300,000-byte frame cut to the 262,144-byte
    /// snaplen, 16 bytes more than the 256 KiB buffer) is flushed by stdio itself and copied
    /// into chunks, between buffers handed over whole.
    @Test func recordsLargerThanTheBufferStayInOrder() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: CaptureOptions(directory: dir.path))
        let a = SampleCluster.device("pi-1-eth0")
        var expected: [(bytes: [UInt8], length: Int)] = []
        for i in 0..<40 {
            let length = i % 4 == 3 ? 300_000 : 1_000 + i * 5_000
            let frame = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            capture.observe(frame, at: Int64(i), on: a)
            expected.append((Array(frame.prefix(LibPcap.maximumSnaplen)), length))
        }
        _ = try capture.finish()
        let read = try PcapReader.read(path: dir.file("pi-1-eth0.pcap"))
        #expect(read.packets.map(\.bytes) == expected.map(\.bytes))
        #expect(read.packets.map(\.originalLength) == expected.map(\.length))
        #expect(try dir.bytes("pi-1-eth0.pcap").count == 24 + expected.reduce(0) { $0 + 16 + $1.bytes.count })
    }

    /// With one chunk in flight the calling thread writes most chunks itself, beside the
    /// writer thread; three files, a flush in the middle, and every byte equal to files
    /// written synchronously by stdio.
    @Test func bothThreadsWritingGiveTheSequentialBytes() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let handle = try #require(PcapDeadHandle(snaplen: LibPcap.maximumSnaplen))
        let writer = BackgroundWriter(chunkSize: 64 << 10, files: 3, inFlight: 1)
        defer { writer.shutdown() }
        let background = try (0..<3).map { i throws(CaptureError) in
            try PcapDumpFile(path: dir.file("background-\(i).pcap"), handle: handle, bufferSize: 64 << 10, writer: writer)
        }
        let sequential = try (0..<3).map { i throws(CaptureError) in
            try PcapDumpFile(path: dir.file("sequential-\(i).pcap"), handle: handle, bufferSize: 4096)
        }
        for i in 0..<12_000 {
            if i == 5_000 {
                for file in background { try file.flush(sync: false) }
            }
            let file = (i * 7) % 3
            var frame = Frames.udp(length: 60 + (i * 131) % 1440)
            frame[frame.count - 1] = UInt8(truncatingIfNeeded: i)
            frame[frame.count - 2] = UInt8(truncatingIfNeeded: i >> 8)
            frame.withUnsafeBytes { bytes in
                for ref in [background[file].ref!, sequential[file].ref!] {
                    ref.dump(seconds: 1_767_225_600, nanoseconds: Int64(i), capturedLength: bytes.count,
                             originalLength: bytes.count, bytes: bytes.baseAddress!)
                }
            }
        }
        for file in background + sequential {
            try file.flush(sync: false)
            file.close()
        }
        for i in 0..<3 {
            let written = try dir.bytes("background-\(i).pcap")
            #expect(written == (try dir.bytes("sequential-\(i).pcap")), "background-\(i).pcap differs")
            #expect(written.count > 1 << 20)
        }
    }

    /// Every stream holds a chunk of the pool as its buffer, so a run with more active
    /// files than chunks in flight still completes (each file's frames read back).
    @Test func manyActiveFilesShareThePool() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let interfaces = (0..<64).map { i in
            CaptureInterface(device: DeviceID(Int32(i)), fileStem: "node-\(i)-eth0", node: "node-\(i)",
                             namespace: "node-\(i)", interface: "eth0", mac: "02:44:00:00:00:01")
        }
        let capture = try PcapCapture(interfaces: interfaces, options: CaptureOptions(directory: dir.path))
        var frame = Frames.udp(length: 1_442)
        for round in 0..<400 {
            frame[frame.count - 1] = UInt8(truncatingIfNeeded: round)
            for i in 0..<64 {
                capture.observe(frame, at: Int64(round * 64 + i), on: DeviceID(Int32(i)))
            }
        }
        let files = try capture.finish()
        #expect(files.count == 64)
        #expect(files.allSatisfy { $0.packets == 400 })
        let read = try PcapReader.read(path: dir.file("node-63-eth0.pcap"))
        #expect(read.packets.map { $0.bytes.last } == (0..<400).map { UInt8(truncatingIfNeeded: $0) })
    }

    /// A write that fails on either thread (here: every write once the descriptor is
    /// /dev/full's) surfaces at the next flush with the file's name and errno's text.
    @Test func writeErrorsOnEitherThreadSurfaceAtFlush() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let handle = try #require(PcapDeadHandle(snaplen: LibPcap.maximumSnaplen))
        let writer = BackgroundWriter(chunkSize: 64 << 10, files: 1, inFlight: 1)
        defer { writer.shutdown() }
        let path = dir.file("full.pcap")
        let file = try PcapDumpFile(path: path, handle: handle, bufferSize: 64 << 10, writer: writer)
        let full = open("/dev/full", O_WRONLY)
        try #require(full >= 0)
        #expect(dup2(full, file.fd) == file.fd)
        close(full)
        let frame = Frames.udp(length: 1_442)
        for i in 0..<500 {
            frame.withUnsafeBytes { bytes in
                file.ref!.dump(seconds: 0, nanoseconds: Int64(i), capturedLength: bytes.count,
                               originalLength: bytes.count, bytes: bytes.baseAddress!)
            }
        }
        #expect(throws: CaptureError.writeFailed(path: path, message: "No space left on device")) {
            try file.flush(sync: false)
        }
        file.close()
    }

    @Test func aBackgroundFileThatCannotTakeItsHeaderFailsToOpen() throws {
        let handle = try #require(PcapDeadHandle(snaplen: LibPcap.maximumSnaplen))
        let writer = BackgroundWriter(chunkSize: 64 << 10, files: 1)
        defer { writer.shutdown() }
        #expect(throws: CaptureError.writeFailed(path: "/dev/full", message: "No space left on device")) {
            _ = try PcapDumpFile(path: "/dev/full", handle: handle, bufferSize: 64 << 10, writer: writer)
        }
    }
}
