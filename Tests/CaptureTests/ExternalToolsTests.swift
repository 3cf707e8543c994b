/// The files as users' tools read them: tshark (expert info, epoch timestamps to the
/// nanosecond) and tcpdump. These tools are required; a missing one fails the test.
import Capture
import Foundation
import Testing

@Suite struct ExternalToolsTests {
    /// A small mixed capture: UDP (both directions), ARP, a full-size frame.
    static func writeSample(_ dir: ScratchDirectory) throws -> String {
        let capture = try PcapCapture(interfaces: SampleCluster.interfaces,
                                      options: CaptureOptions(directory: dir.path, interfaceGlobs: ["pi-1-client-eth0"]))
        let eth0 = SampleCluster.device("pi-1-client-eth0")
        capture.observe(Frames.arpRequest(), at: 1, on: eth0, .deviceTx)
        capture.observe(Frames.udp(identification: 2), at: 1_000_000_000, on: eth0, .deviceTx)
        capture.observe(Frames.udp(from: [10, 244, 1, 2], to: [10, 244, 0, 2], sourcePort: 8080,
                                   destinationPort: 40000, identification: 3),
                        at: 1_000_250_001, on: eth0, .deviceRx)
        capture.observe(Frames.udp(length: 1400), at: 3_600_123_456_789, on: eth0, .deviceTx)
        _ = try capture.finish()
        return dir.file("pi-1-client-eth0.pcap")
    }

    @Test func tsharkFindsNoErrorsOrWarnings() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try Self.writeSample(dir)
        // Checksum validation on, so a bad IPv4/UDP checksum would show up as an expert error.
        let arguments = ["-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                         "-z", "expert", "-q"]
        guard let out = try ExternalTool.run("tshark", arguments, package: "tshark")
        else { return }
        #expect(out.status == 0, "tshark failed: \(out.stderr)")
        #expect(!out.stdout.contains("Error"), "tshark expert info:\n\(out.stdout)")
        #expect(!out.stdout.contains("Warn"), "tshark expert info:\n\(out.stdout)")
        #expect(!out.stderr.contains("appears to be damaged"), "\(out.stderr)")
    }

    @Test func tsharkReadsEpochPlusSimulatedNanoseconds() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try Self.writeSample(dir)
        guard let out = try ExternalTool.run("tshark", ["-r", file, "-T", "fields", "-E", "separator=,",
                                                        "-e", "frame.time_epoch", "-e", "frame.len",
                                                        "-e", "frame.protocols"], package: "tshark")
        else { return }
        #expect(out.status == 0, "tshark failed: \(out.stderr)")
        #expect(out.stdout.split(separator: "\n") == [
            "1767225600.000000001,42,eth:ethertype:arp",
            "1767225601.000000000,55,eth:ethertype:ip:udp:data",
            "1767225601.000250001,55,eth:ethertype:ip:udp:data",
            "1767229200.123456789,1400,eth:ethertype:ip:udp:data",
        ])
    }

    @Test func aMissingToolIsAFailureThatSaysHowToInstallIt() throws {
        try withKnownIssue {
            _ = try ExternalTool.run("podwire-no-such-tool", [], package: "podwire-no-such-package")
        } matching: { issue in
            "\(issue)".contains("apt-get install -y podwire-no-such-package")
        }
    }

    @Test func tcpdumpReadsTheFile() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let file = try Self.writeSample(dir)
        guard let out = try ExternalTool.run("tcpdump", ["-nn", "-r", file], package: "tcpdump") else { return }
        #expect(out.status == 0, "tcpdump failed: \(out.stderr)")
        let lines = out.stdout.split(separator: "\n")
        #expect(lines.count == 4, "\(out.stdout)")
        #expect(lines.first?.contains("ARP, Request who-has 10.244.0.1 tell 10.244.0.2") == true, "\(out.stdout)")
        #expect(lines.dropFirst().first?.contains("10.244.0.2.40000 > 10.244.1.2.8080: UDP, length 13") == true,
                "\(out.stdout)")
        #expect(out.stderr.contains("link-type EN10MB"), "\(out.stderr)")
    }
}
