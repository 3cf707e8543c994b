/// The summary's CAPTURES line gives the pcaps' size on disk, and a hint from 1 GiB up: one
/// second of gigabit iperf3 across VXLAN writes ~1.4 GiB, and a 60 s run would fill most
/// disks before the user learnt that snaplen or fewer interfaces would have helped.
import Foundation
@testable import PodwireKit
import Testing
import Topology

@Suite struct CaptureSizeTests {
    @Test func sizesReadLikeLsH() {
        #expect(RunReport.size(0) == "0 bytes")
        #expect(RunReport.size(1) == "1 byte")
        #expect(RunReport.size(1023) == "1023 bytes")
        #expect(RunReport.size(1024) == "1.0 KiB")
        #expect(RunReport.size(54_840_000) == "52.3 MiB")
        #expect(RunReport.size(1_503_238_553) == "1.4 GiB")
        #expect(RunReport.size(3 << 40) == "3072.0 GiB")
    }

    @Test func theLineSumsTheFilesOnDiskAndLargeCapturesGetAHint() throws {
        let dir = E2E.tempDir("capture-size")
        let t = try TopologyFile.load(path: E2E.repo.path + "/topologies/single-node.yaml")
        let r = try Replay.run(t, options: RunOptions(outputDirectory: dir, duration: .milliseconds(600)))
        var onDisk: Int64 = 0
        for f in r.captureFiles {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/" + f.file)
            let size = try #require(attributes[.size] as? NSNumber).int64Value
            #expect(f.bytes == size, "\(f.file)")
            onDisk += size
        }
        #expect(onDisk > 0)
        #expect(r.text().contains("CAPTURES: 15 pcap files, \(r.captureFiles.reduce(0) { $0 + $1.packets }) packets, "
                                  + "\(RunReport.size(onDisk)), in \(dir)/ (index.json lists them)\n"), "\(r.text())")
        #expect(!r.text().contains("large:"))
        let json = r.json().utf8Text()
        #expect(String(decoding: json, as: UTF8.self).contains("\"bytes\": \(onDisk),"))

        var big = r
        big.captureFiles = [("a.pcap", 1, RunReport.largeCapture - 1)]
        #expect(!big.text().contains("large:"))
        big.captureFiles = [("a.pcap", 1, RunReport.largeCapture)]
        #expect(big.text().contains("CAPTURES: 1 pcap file, 1 packets, 1.0 GiB, in \(dir)/"), "\(big.text())")
        #expect(big.text().contains("  large: spec.capture.snaplen: 128 keeps headers only; capture.interfaces (e.g. [\"*/eth0\"]) "
                                    + "or a capture.filter keeps fewer files or frames\n"))
    }
}
