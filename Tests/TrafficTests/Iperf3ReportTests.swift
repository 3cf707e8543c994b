/// The iperf3 report's JSON: keys, exact numbers, determinism.
import Datapath
import Foundation
import Engine
import Testing
import Wire
@testable import Traffic

@Suite struct Iperf3ReportTests {
    @Test func sumHasIperf3KeysInOrderAndExactNumbers() throws {
        let r = try Iperf3ClientTests.run()
        let json = r.report.jsonText
        // The whole end.sum object, byte for byte (jitter 0: after the first datagram, which
        // waited for ARP, the transit is constant and the smoothing decays to < 1 ns).
        #expect(json.contains("""
                "sum": {
                  "start": 0,
                  "end": 0.1,
                  "seconds": 0.1,
                  "bytes": 1250200,
                  "bits_per_second": 100016000,
                  "jitter_ms": 0,
                  "lost_packets": 0,
                  "packets": 893,
                  "lost_percent": 0,
                  "sender": true
                },
            """))
        // The receiver's side, as iperf 3.12 writes it: the server's jitter and loss, its
        // count of the stream's datagrams, `sender: false` (podwire wrote `true` and left
        // the UDP fields out).
        #expect(json.contains("""
                "sum_received": {
                  "start": 0,
                  "end": 0.1,
                  "seconds": 0.1,
                  "bytes": 1250200,
                  "bits_per_second": 100016000,
                  "jitter_ms": 0,
                  "lost_packets": 0,
                  "packets": 893,
                  "lost_percent": 0,
                  "sender": false
                }
            """))
        // The stream: the sum's fields with its socket first and `out_of_order` before `sender`.
        #expect(json.contains("""
                "streams": [
                  {
                    "udp": {
                      "socket": \(r.report.socket),
                      "start": 0,
            """))
        #expect(json.contains("      \"out_of_order\": 0,\n          \"sender\": true\n"))
        let topKeys = json.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0.split(separator: ":")[0]) }
        #expect(topKeys == ["  \"start\"", "  \"intervals\"", "  \"end\"", "  \"podwire\""])
        #expect(json.contains("\"one_way_delay_us\": {\n      \"count\": 893,"))
        print(json)
    }

    /// Every key iperf 3.12's UDP client writes with `-J`, at every level, in its order: the
    /// real output is `Tests/kernel-twin/iperf3-3.12-udp-client.json` (two namespaces,
    /// `-u -b 20M -l 1000 -t 2`). Before, `end.streams` was missing (scripts reading
    /// `end.streams[0].udp.jitter_ms` found nothing), `sum_sent` and `sum_received` had no
    /// UDP fields, and `start` lacked six keys. Only `end.cpu_utilization_percent` is left
    /// out (podwire's CPU time is per core, not per process), and `podwire` is added.
    @Test func everyKeyOfRealIperf3InItsOrder() throws {
        let r = try Iperf3ClientTests.run(bitrate: 8_000_000, length: 1000, time: .milliseconds(2_500), until: .ms(3_000))
        let path = #filePath.split(separator: "/").dropLast(2).joined(separator: "/")
        let real = try String(contentsOfFile: "/" + path + "/kernel-twin/iperf3-3.12-udp-client.keys", encoding: .utf8)
        func keyPaths(_ v: JSONValue, _ prefix: String = "") -> [String] {
            switch v {
            case .object(let fields): fields.flatMap { [prefix + $0.0] + keyPaths($0.1, prefix + $0.0 + ".") }
            case .array(let items): items.first.map { keyPaths($0, prefix + "[].") } ?? []
            default: []
            }
        }
        let theirs = real.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("end.cpu_utilization_percent") }
        let ours = keyPaths(r.report.json).filter { !$0.hasPrefix("podwire") }
        #expect(ours == theirs)
    }

    /// The text transcript, against iperf 3.12's own (`Tests/kernel-twin/iperf3-3.12-udp-client.txt`:
    /// `iperf3 -c 10.0.0.2 -u -b 20M -l 1000 -t 2` between two namespaces): given that run's
    /// figures — socket 5, port 44290, 2498 then 2500 datagrams of 1000 bytes, all 4998
    /// received, jitter 0.006 ms — every line is the same, byte for byte.
    @Test func transcriptIsIperf3sOwn() throws {
        var report = try Iperf3ClientTests.run(bitrate: 20_000_000, length: 1000, time: .seconds(2), until: .ms(2_500)).report
        report.configuration.server = IPv4Address(10, 0, 0, 2)
        report.configuration.port = 5201
        report.clientAddress = IPv4Address(10, 0, 0, 1)
        report.clientPort = 44290
        report.socket = 5
        report.intervals = [Iperf3Interval(bytes: 2_498_000, packets: 2498), Iperf3Interval(bytes: 2_500_000, packets: 2500)]
        report.packets = 4998
        report.bytesSent = 4_998_000
        report.bytesReceived = 4_998_000
        report.highestSequence = 4998
        report.lostPackets = 0
        report.jitterNanoseconds = 6_000
        let path = #filePath.split(separator: "/").dropLast(2).joined(separator: "/")
        let real = try String(contentsOfFile: "/" + path + "/kernel-twin/iperf3-3.12-udp-client.txt", encoding: .utf8)
        let theirs = real.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(report.transcript == theirs)
    }

    /// iperf3's number formats (`unit_snprintf`, `%.2g` loss): units step at 1024 bytes and
    /// 1000 bits, 4 characters each, and a total loss reads "1e+02%" as iperf3 prints it.
    @Test func numbersRoundAsIperf3Does() throws {
        #expect(Iperf3Report.unit(4_998_000, bytes: true) == "4.77 MByte")
        #expect(Iperf3Report.unit(1023, bytes: true) == "1023 Byte")
        #expect(Iperf3Report.unit(1024, bytes: true) == "1.00 KByte")
        #expect(Iperf3Report.unit(119_625_000, bytes: false) == " 957 Mbit")
        #expect(Iperf3Report.unit(12_500_000, bytes: false) == " 100 Mbit")
        #expect(Iperf3Report.unit(2_499_000, bytes: false) == "20.0 Mbit")
        #expect(Iperf3Report.unit(0, bytes: false) == "0.00 bit")
        var report = try Iperf3ClientTests.run().report
        report.lostPackets = report.highestSequence
        #expect(report.transcript.last(where: { $0.hasSuffix("receiver") })?.contains("(1e+02%)  receiver") == true)
        report.lostPackets = 3
        report.highestSequence = 893
        #expect(report.transcript.last(where: { $0.hasSuffix("receiver") })?.contains(" 3/893 (0.34%)  receiver") == true)
    }

    /// `start.timestamp.time` is an RFC 1123 date; the second pair is iperf 3.12's own
    /// (`"timesecs": 1795608500` printed as "Wed, 25 Nov 2026 12:08:20 GMT").
    @Test func datesAreWrittenAsIperf3WritesThem() {
        #expect(HTTPDate.text(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.text(1_795_608_500) == "Wed, 25 Nov 2026 12:08:20 GMT")
        #expect(HTTPDate.text(SimTime.epochSeconds) == "Thu, 01 Jan 2026 00:00:00 GMT")
        #expect(HTTPDate.text(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate.text(-1) == "Wed, 31 Dec 1969 23:59:59 GMT")
    }

    /// `intervals[]`, as iperf3 -J's client writes it (`-i 1`): one per second of `-t`, the
    /// last shorter, each with the stream (socket first) and the sum, sender side; the
    /// intervals add up to `end.sum`. Plotting scripts read `intervals[].sum.bits_per_second`;
    /// the report had no `intervals` at all.
    @Test func intervalsArePerSecondAndAddUpToTheSum() throws {
        let r = try Iperf3ClientTests.run(bitrate: 8_000_000, length: 1000, time: .milliseconds(2_500), until: .ms(3_000))
        let report = r.report
        #expect(report.intervals.map(\.packets) == [1000, 1000, 500])
        #expect(report.intervals.map(\.bytes).reduce(0, +) == report.bytesSent)
        #expect(report.intervals.map(\.packets).reduce(0, +) == report.packets)
        let json = report.jsonText
        #expect(json.contains("""
              "intervals": [
                {
                  "streams": [
                    {
                      "socket": \(report.socket),
                      "start": 0,
                      "end": 1,
                      "seconds": 1,
                      "bytes": 1000000,
                      "bits_per_second": 8000000,
                      "packets": 1000,
                      "omitted": false,
                      "sender": true
                    }
                  ],
                  "sum": {
                    "start": 0,
                    "end": 1,
            """), "\(json)")
        #expect(json.contains("""
                  "sum": {
                    "start": 2,
                    "end": 2.5,
                    "seconds": 0.5,
                    "bytes": 500000,
                    "bits_per_second": 8000000,
                    "packets": 500,
                    "omitted": false,
                    "sender": true
                  }
            """), "\(json)")
    }

    @Test func jsonIsByteIdenticalAcrossRuns() throws {
        let a = try Iperf3ClientTests.run(seed: 42)
        let b = try Iperf3ClientTests.run(seed: 42)
        #expect(a.report.jsonText == b.report.jsonText)
        #expect(a.report == b.report)
        #expect(a.node.world.conservationHolds() && b.node.world.conservationHolds())
    }

    /// Loss is reported with iperf3's rule and percentage, on a lossy synthetic server view.
    @Test func lostPercentIsLostOverSenderPackets() throws {
        let r = try Iperf3ClientTests.run(time: .milliseconds(1))   // 9 datagrams
        var report = r.report
        report.lostPackets = 3
        #expect(report.packets == 9)
        #expect(report.lostPercent == 100.0 * 3 / 9)
        #expect(report.jsonText.contains("\"lost_percent\": 33.333333,"))
    }
}
