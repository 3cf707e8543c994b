/// PcapReader: precision detection, libpcap's scaling of microsecond files, errors.
@testable import Capture
import Foundation
import Testing

@Suite struct PcapReaderTests {
    @Test func microsecondFilesReadBackScaledAndFlaggedAsSuch() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("micro.pcap")
        let handle = try #require(PcapDeadHandle(snaplen: 65_535, nanosecond: false))
        let file = try PcapDumpFile(path: path, handle: handle, bufferSize: 4096)
        let frame = Frames.udp()
        frame.withUnsafeBytes {
            file.ref!.dump(seconds: 1_767_225_600, nanoseconds: 250_000, capturedLength: $0.count,
                           originalLength: $0.count, bytes: $0.baseAddress!)
        }
        try file.flush(sync: false)
        file.close()
        let read = try PcapReader.read(path: path)
        #expect(Array(try dir.bytes("micro.pcap").prefix(4)) == [0xd4, 0xc3, 0xb2, 0xa1])
        #expect(!read.nanosecondPrecision)
        #expect(read.linkType == 1)
        // 250_000 in the microsecond field is 0.25 s; libpcap hands it back in nanoseconds.
        #expect(read.packets.map(\.nanoseconds) == [250_000_000])
        #expect(read.packets.first?.bytes == frame)
    }

    @Test func missingAndMalformedFilesAreCannotOpen() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        #expect(throws: CaptureError.self) { try PcapReader.read(path: dir.file("absent.pcap")) }
        try dir.write("junk.pcap", "this is not a capture file at all")
        do {
            _ = try PcapReader.read(path: dir.file("junk.pcap"))
            Issue.record("expected cannotOpen")
        } catch {
            guard case let .cannotOpen(path, message) = error else { Issue.record("\(error)"); return }
            #expect(path.hasSuffix("junk.pcap"))
            #expect(!message.isEmpty)
        }
    }
}
