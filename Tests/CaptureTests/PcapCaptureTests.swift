/// PcapCapture: what reaches each file (stages, devices, bytes, timestamps, truncation),
/// the directory contract (stale files, empty files, index.json last) and determinism.
@testable import Capture
import Datapath
import Engine
import Foundation
import Testing

@Suite struct PcapCaptureTests {
    static let epoch: Int64 = 1_767_225_600

    @Test func writesFramesWithExactBytesAndNanosecondTimestamps() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: CaptureOptions(directory: dir.path))
        let eth0 = SampleCluster.device("pi-1-client-eth0")
        let frames = [Frames.udp(identification: 1), Frames.arpRequest(), Frames.udp(length: 1400)]
        let times: [Int64] = [0, 1, 3_600_123_456_789]
        for (frame, time) in zip(frames, times) { capture.observe(frame, at: time, on: eth0) }
        #expect(capture.packetsWritten == 3)
        let files = try capture.finish()

        let read = try PcapReader.read(path: dir.file("pi-1-client-eth0.pcap"))
        #expect(read.linkType == 1)
        #expect(read.nanosecondPrecision)
        #expect(read.packets.count == 3)
        for (i, packet) in read.packets.enumerated() {
            #expect(packet.seconds == Self.epoch + times[i] / 1_000_000_000)
            #expect(packet.nanoseconds == times[i] % 1_000_000_000)
            #expect(packet.bytes == frames[i])
            #expect(packet.originalLength == frames[i].count)
        }
        #expect(files.first { $0.interface.fileStem == "pi-1-client-eth0" }?.packets == 3)
        // Header: nanosecond magic in host (little-endian) order, v2.4, snaplen, EN10MB.
        let header = Array(try dir.bytes("pi-1-client-eth0.pcap").prefix(24))
        #expect(header == [0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0x00, 0x00, 0x04, 0x00, 1, 0, 0, 0])
    }

    @Test func writesOnlyDeviceRxAndDeviceTxHops() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: CaptureOptions(directory: dir.path))
        let cni0 = SampleCluster.device("pi-1-cni0")
        let frame = Frames.udp()
        for (i, stage) in HopStage.allCases.enumerated() {
            capture.observe(frame, at: Int64(i) * 1_000, on: cni0, stage)
        }
        #expect(capture.packetsWritten == 2)
        _ = try capture.finish()
        let packets = try PcapReader.read(path: dir.file("pi-1-cni0.pcap")).packets
        // deviceRx at 0 ns and deviceTx at 1000 ns; deliver and drop are not on the wire.
        #expect(packets.map(\.nanoseconds) == [0, 1_000])
    }

    @Test func unselectedAndUnknownDevicesWriteNothing() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let options = CaptureOptions(directory: dir.path, interfaceGlobs: ["pi-2/*/*"])
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: options)
        let frame = Frames.udp()
        capture.observe(frame, at: 1, on: SampleCluster.device("pi-1-eth0"))      // not selected
        capture.observe(frame, at: 2, on: DeviceID(99))                       // beyond the table
        capture.observe(frame, at: 3, on: DeviceID(11))                       // a hole in the table
        capture.observe(frame, at: 4, on: .none)
        capture.observe(frame, at: 5, on: SampleCluster.device("pi-2-server-eth0"))
        let files = try capture.finish()
        #expect(capture.packetsWritten == 1)
        #expect(files.map(\.interface.fileStem) == ["pi-2-eth0", "pi-2-server-eth0"])
        #expect(files.map(\.packets) == [0, 1])
        #expect(dir.names() == ["index.json", "pi-2-eth0.pcap", "pi-2-server-eth0.pcap"])
    }

    @Test func truncatesFramesLongerThanSnaplen() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let options = CaptureOptions(directory: dir.path, interfaceGlobs: ["pi-1-eth0"], snaplen: 100)
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: options)
        let long = Frames.udp(length: 1400), short = Frames.udp(length: 100)
        capture.observe(long, at: 10, on: SampleCluster.device("pi-1-eth0"))
        capture.observe(short, at: 20, on: SampleCluster.device("pi-1-eth0"))
        _ = try capture.finish()
        let packets = try PcapReader.read(path: dir.file("pi-1-eth0.pcap")).packets
        #expect(packets.count == 2)
        #expect(packets[0].bytes == Array(long.prefix(100)))
        #expect(packets[0].originalLength == 1400)
        #expect(packets[1].bytes == short)
        #expect(packets[1].originalLength == 100)
        let header = try dir.bytes("pi-1-eth0.pcap")
        #expect(Array(header[16..<20]) == [100, 0, 0, 0], "file header snaplen")
    }

    @Test(arguments: [0, -1, 1_000_000])
    func snaplenOutOfRangeMeansTheMaximum(snaplen: Int) throws {
        let options = CaptureOptions(directory: "/nonexistent", snaplen: snaplen)
        #expect(options.effectiveSnaplen == 262_144)
    }

    @Test func everySelectedInterfaceGetsAValidEmptyFileAtInit() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: CaptureOptions(directory: dir.path))
        // Before finish: every file exists, is a complete 24-byte header, and no index yet.
        #expect(dir.names() == SampleCluster.interfaces.map(\.fileName).sorted())
        for interface in SampleCluster.interfaces {
            #expect(try dir.bytes(interface.fileName).count == 24)
        }
        _ = try capture.finish()
        let lo = try PcapReader.read(path: dir.file("pi-1-lo.pcap"))
        #expect(lo.linkType == 1 && lo.nanosecondPrecision && lo.packets.isEmpty)
        #expect(try dir.bytes("pi-1-lo.pcap").count == 24)
    }

    @Test func removesOnlyStalePcapsAndIndexAtInit() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        for name in ["old-node-eth0.pcap", "index.json", "pi-1-eth0.pcap", "notes.txt", "run.pcapng", "index.json.bak"] {
            try dir.write(name, "stale")
        }
        let options = CaptureOptions(directory: dir.path, interfaceGlobs: ["pi-1-eth0"])
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: options)
        #expect(dir.names() == ["index.json.bak", "notes.txt", "pi-1-eth0.pcap", "run.pcapng"])
        #expect(try dir.bytes("pi-1-eth0.pcap").count == 24)
        #expect(try dir.text("notes.txt") == "stale")
        _ = try capture.finish()
    }

    @Test func setupErrorsLeaveTheDirectoryUntouched() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try dir.write("previous.pcap", "keep")
        try dir.write("index.json", "{}")
        let badFilter = CaptureOptions(directory: dir.path, filter: "udp prot 8080")
        #expect(throws: CaptureError.self) { try PcapCapture(interfaces: SampleCluster.interfaces, options: badFilter) }
        let noMatch = CaptureOptions(directory: dir.path, interfaceGlobs: ["wlan*"])
        #expect(throws: CaptureError.noInterfaceMatches(globs: ["wlan*"])) {
            try PcapCapture(interfaces: SampleCluster.interfaces, options: noMatch)
        }
        #expect(dir.names() == ["index.json", "previous.pcap"])
    }

    @Test func createsMissingDirectoriesAndReportsOnesItCannotCreate() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let nested = dir.file("a/b/c")
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces,
                                      options: CaptureOptions(directory: nested, interfaceGlobs: ["lo"]))
        _ = try capture.finish()
        #expect(FileManager.default.fileExists(atPath: nested + "/pi-1-lo.pcap"))

        try dir.write("plain-file", "x")
        do {
            _ = try PcapCapture(interfaces: SampleCluster.interfaces,
                                options: CaptureOptions(directory: dir.file("plain-file/sub")))
            Issue.record("expected cannotCreateDirectory")
        } catch {
            guard case let .cannotCreateDirectory(path, code) = error else {
                Issue.record("unexpected \(error)"); return
            }
            #expect(path == dir.file("plain-file/sub"))
            #expect(code == ENOTDIR)
            #expect(error.description.contains("Not a directory"))
        }
    }

    @Test func rejectsFileStemsThatCollideOrAreNotFileNames() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        var twins = SampleCluster.interfaces
        twins[1].fileStem = "pi-1-eth0"
        do {
            _ = try PcapCapture(interfaces: twins, options: CaptureOptions(directory: dir.path))
            Issue.record("expected an error for two interfaces writing one file")
        } catch {
            guard case let .cannotOpen(path, message) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path.hasSuffix("/pi-1-eth0.pcap"))
            #expect(message.contains("pi-1/pi-1/eth0") && message.contains("pi-1/pi-1/lo"))
        }
        var slashed = SampleCluster.interfaces
        slashed[0].fileStem = "../escape"
        #expect(throws: CaptureError.self) {
            try PcapCapture(interfaces: slashed, options: CaptureOptions(directory: dir.path))
        }
        var sameDevice = SampleCluster.interfaces
        sameDevice[1].device = sameDevice[0].device
        #expect(throws: CaptureError.self) {
            try PcapCapture(interfaces: sameDevice, options: CaptureOptions(directory: dir.path))
        }
        #expect(dir.names().isEmpty)
    }

    @Test func indexIsWrittenLastWithFilesInNameOrder() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let options = CaptureOptions(directory: dir.path, interfaceGlobs: ["pi-1/*/eth0", "pi-1-lo"])
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: options)
        #expect(!dir.exists("index.json"))
        capture.observe(Frames.udp(), at: 5, on: SampleCluster.device("pi-1-eth0"))
        capture.observe(Frames.udp(), at: 6, on: SampleCluster.device("pi-1-eth0"))
        capture.observe(Frames.udp(), at: 7, on: SampleCluster.device("pi-1-client-eth0"))
        let files = try capture.finish(extra: ["topology": "two-pis", "podwire_version": "0.1 \"dev\""])
        #expect(files.map { ($0.path as NSString).lastPathComponent }
                == ["pi-1-client-eth0.pcap", "pi-1-eth0.pcap", "pi-1-lo.pcap"])
        #expect(!dir.exists("index.json.tmp"))
        #expect(try dir.text("index.json") == """
            {
              "complete": true,
              "podwire_version": "0.1 \\"dev\\"",
              "topology": "two-pis",
              "epoch_seconds": 1767225600,
              "files": [
                {
                  "file": "pi-1-client-eth0.pcap",
                  "node": "pi-1",
                  "namespace": "client",
                  "interface": "eth0",
                  "mac": "02:44:0a:f4:00:02",
                  "ipv4": ["10.244.0.2/24"],
                  "packets": 1
                },
                {
                  "file": "pi-1-eth0.pcap",
                  "node": "pi-1",
                  "namespace": "pi-1",
                  "interface": "eth0",
                  "mac": "02:44:00:00:00:01",
                  "ipv4": ["192.168.1.11/24"],
                  "packets": 2
                },
                {
                  "file": "pi-1-lo.pcap",
                  "node": "pi-1",
                  "namespace": "pi-1",
                  "interface": "lo",
                  "mac": "00:00:00:00:00:00",
                  "ipv4": ["127.0.0.1/8"],
                  "packets": 0
                }
              ]
            }

            """)
        // The index is valid JSON with the same content.
        let json = try JSONSerialization.jsonObject(with: Data(try dir.bytes("index.json"))) as! [String: Any]
        #expect(json["complete"] as? Bool == true)
        #expect((json["files"] as? [[String: Any]])?.compactMap { $0["packets"] as? Int } == [1, 2, 0])
    }

    @Test func finishIsFinalAndLaterHopsAreIgnored() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces,
                                      options: CaptureOptions(directory: dir.path, interfaceGlobs: ["pi-2-eth0"]))
        capture.observe(Frames.udp(), at: 1, on: SampleCluster.device("pi-2-eth0"))
        let first = try capture.finish()
        capture.observe(Frames.udp(), at: 2, on: SampleCluster.device("pi-2-eth0"))
        let second = try capture.finish(extra: ["ignored": "yes"])
        #expect(first == second)
        #expect(capture.packetsWritten == 1)
        #expect(try PcapReader.read(path: dir.file("pi-2-eth0.pcap")).packets.count == 1)
        #expect(!(try dir.text("index.json")).contains("ignored"))
    }

    @Test func aCaptureThatIsNeverFinishedHasNoIndexButKeepsItsFrames() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let capture = try PcapCapture(interfaces: SampleCluster.interfaces,
                                          options: CaptureOptions(directory: dir.path, interfaceGlobs: ["cni0"]))
            capture.observe(Frames.udp(), at: 1, on: SampleCluster.device("pi-1-cni0"))
        }
        #expect(!dir.exists("index.json"))
        #expect(try PcapReader.read(path: dir.file("pi-1-cni0.pcap")).packets.count == 1)
    }

    @Test func identicalRunsGiveByteIdenticalFiles() throws {
        func run(_ dir: ScratchDirectory) throws {
            let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: CaptureOptions(directory: dir.path))
            for i in 0..<200 {
                let device = SampleCluster.interfaces[i % SampleCluster.interfaces.count].device
                let frame = i % 7 == 0 ? Frames.arpRequest() : Frames.udp(identification: UInt16(i))
                capture.observe(frame, at: Int64(i) * 1_234_567, on: device, i % 2 == 0 ? .deviceRx : .deviceTx)
            }
            _ = try capture.finish(extra: ["seed": "42"])
        }
        let a = ScratchDirectory("determinismA"), b = ScratchDirectory("determinismB")
        defer { a.remove(); b.remove() }
        try run(a)
        try run(b)
        #expect(a.names() == b.names())
        for name in a.names() {
            #expect(try a.bytes(name) == b.bytes(name), "\(name) differs between identical runs")
        }
    }

    @Test func filterKeepsMatchingFramesOnly() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let options = CaptureOptions(directory: dir.path, interfaceGlobs: ["cni0"], filter: "udp port 8080")
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces, options: options)
        let cni0 = SampleCluster.device("pi-1-cni0")
        capture.observe(Frames.arpRequest(), at: 1, on: cni0)
        capture.observe(Frames.udp(destinationPort: 8080), at: 2, on: cni0)
        capture.observe(Frames.udp(destinationPort: 53), at: 3, on: cni0)
        let files = try capture.finish()
        #expect(files.map(\.packets) == [1])
        let packets = try PcapReader.read(path: dir.file("pi-1-cni0.pcap")).packets
        #expect(packets.map(\.nanoseconds) == [2])
    }

    @Test func writeErrorsNameTheFile() throws {
        // /dev/full accepts open(2) and fails every write with ENOSPC.
        guard let handle = PcapDeadHandle(snaplen: 262_144) else { Issue.record("pcap_open_dead"); return }
        do {
            _ = try PcapDumpFile(path: "/dev/full", handle: handle, bufferSize: 4096)
            Issue.record("expected writeFailed")
        } catch {
            #expect(error == .writeFailed(path: "/dev/full", message: "No space left on device"))
            #expect(error.description.contains("\"/dev/full\"") && error.description.contains("no index.json"))
        }
    }
}
