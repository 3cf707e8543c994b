#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine

/// The client's output as iperf 3.12 prints it without `-J` (`iperf_locale.c`'s formats,
/// `units.c`'s `unit_snprintf`), from the same figures as the JSON: the connection, one line
/// per second of `-t` (what the client sent), then the sender's and the receiver's summary.
/// Checked line by line against `iperf3 -c … -u -b 20M -l 1000 -t 2` between two namespaces
/// (`Tests/kernel-twin/iperf3-3.12-udp-client.txt`). Numbers go through C's `snprintf` with
/// iperf3's own format strings, so they round as iperf3's do (including its `%.2g` loss
/// percentage, which prints 100 % as "1e+02").
extension Iperf3Report {
    /// Lines of the transcript (the blank line before "iperf Done." included).
    public var transcript: [String] {
        let c = configuration
        let id = Self.c("[%3d]", socket)
        var out = [
            "Connecting to host \(c.server), port \(c.port)",
            "\(id) local \(clientAddress) port \(clientPort) connected to \(c.server) port \(c.port)",
            "[ ID] Interval           Transfer     Bitrate         Total Datagrams",
        ]
        let step = Iperf3Client.reportingInterval.nanoseconds
        for (k, interval) in intervals.enumerated() {
            let from = Int64(k) * step, to = min(from + step, c.time.nanoseconds)
            out.append(id + Self.interval(from, to) + Self.rates(interval.bytes, over: to - from)
                       + Self.c("  %d  ", Int(interval.packets)))
        }
        out.append("- - - - - - - - - - - - - - - - - - - - - - - - -")
        out.append("[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams")
        let whole = Self.interval(0, c.time.nanoseconds)
        func summary(_ bytes: UInt64, jitterMilliseconds: Double, lost: UInt64, total: UInt64, _ side: String) -> String {
            let percent = total == 0 ? 0 : 100 * Double(lost) / Double(total)
            return id + whole + Self.rates(bytes, over: c.time.nanoseconds)
                + Self.c("  %5.3f ms  %lld/%lld (%.2g%%)  ", jitterMilliseconds, Int64(lost), Int64(total), percent) + side
        }
        out.append(summary(bytesSent, jitterMilliseconds: 0, lost: 0, total: packets, "sender"))
        out.append(summary(bytesReceived, jitterMilliseconds: jitterNanoseconds / 1e6, lost: lostPackets,
                           total: highestSequence, "receiver"))
        out.append("")
        out.append("iperf Done.")
        return out
    }

    /// " %6.2f-%-6.2f sec  " for a span of the test, in nanoseconds from its start.
    static func interval(_ from: Int64, _ to: Int64) -> String {
        c(" %6.2f-%-6.2f sec  ", Double(from) / 1e9, Double(to) / 1e9)
    }

    /// "TRANSFER  BITRATE/sec" for `bytes` over `nanoseconds`, as iperf3's `%ss  %ss/sec`.
    static func rates(_ bytes: UInt64, over nanoseconds: Int64) -> String {
        let perSecond = nanoseconds > 0 ? Double(bytes) * 1e9 / Double(nanoseconds) : 0
        return unit(Double(bytes), bytes: true) + "s  " + unit(perSecond, bytes: false) + "s/sec"
    }

    /// `unit_snprintf` with format 'A' (bytes, powers of 1024) or 'a' (bits, powers of 1000):
    /// the value in the largest unit that keeps it at least 1, in 4 characters.
    static func unit(_ value: Double, bytes: Bool) -> String {
        var v = bytes ? value : value * 8
        let base = bytes ? 1024.0 : 1000.0
        var k = 0
        while v >= base && k <= 3 {
            v /= base
            k += 1
        }
        let label = bytes ? ["Byte", "KByte", "MByte", "GByte", "TByte"][k] : ["bit", "Kbit", "Mbit", "Gbit", "Tbit"][k]
        let format = v < 9.995 ? "%4.2f %s" : v < 99.95 ? "%4.1f %s" : "%4.0f %s"
        return label.withCString { c(format, v, $0) }
    }

    /// C's `snprintf` (what iperf3 formats with).
    static func c(_ format: String, _ arguments: CVarArg...) -> String {
        withVaList(arguments) { list in
            var buffer = [CChar](repeating: 0, count: 128)
            _ = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, 128, format, list) }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
