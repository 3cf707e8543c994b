/// The background writer (libpcap → fopencookie → 1 MiB chunks → one writer thread) must
/// give exactly the bytes a plain sequential writer would: every record, in order, across
/// many chunk boundaries and two interleaved files, and not one byte more.
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
        // ~4.8 MiB into one file (five 1 MiB chunks) and every third frame into another,
        // interleaved, with varied lengths so records straddle chunk boundaries at many
        // alignments.
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
}
