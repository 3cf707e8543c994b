import ArgumentParser
import Foundation

/// One row of `podwire bench throughput`: an iperf3-style UDP run between two pods on two
/// nodes of one profile, at offered line rate for a fixed simulated time.
public struct ThroughputRow: Sendable, Equatable {
    /// Built-in profile name (`raspberry-pi-4b` …).
    public var profile: String
    /// `flannel-vxlan` or `flannel-host-gw`.
    public var cni: String
    /// `pod` (to the server pod's IP) or `service` (to a ClusterIP whose one endpoint is it).
    public var via: String
    /// UDP payload bytes per datagram (iperf3 `-l`).
    public var length: Int
    /// UDP payload bits per second the client offers (line rate, less the per-datagram
    /// header and framing overhead).
    public var offeredBps: Double
    /// UDP payload bits per second the server received (iperf3's receiver bitrate).
    public var goodputBps: Double
    /// Datagrams the server did not receive, in percent of those sent.
    public var lostPercent: Double
    /// Datagrams sent and received.
    public var sent: UInt64
    public var received: UInt64
    /// Where the lost datagrams were dropped: kernel drop reason name → count, sorted by name.
    public var drops: [(reason: String, count: UInt64)]
    /// The published figure for this row, in Mbit/s, and its source, when one exists.
    public var publishedMbps: Double?
    public var publishedSource: String?

    public static func == (a: ThroughputRow, b: ThroughputRow) -> Bool {
        a.profile == b.profile && a.cni == b.cni && a.via == b.via && a.length == b.length
            && a.offeredBps == b.offeredBps && a.goodputBps == b.goodputBps && a.lostPercent == b.lostPercent
            && a.sent == b.sent && a.received == b.received
            && a.drops.map(\.reason) == b.drops.map(\.reason) && a.drops.map(\.count) == b.drops.map(\.count)
            && a.publishedMbps == b.publishedMbps && a.publishedSource == b.publishedSource
    }
}

struct BenchThroughputCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "iperf3-style UDP throughput between pods on two emulated Pi nodes, per profile, CNI, path and datagram size.")

    func run() throws {
        throw ValidationError("bench throughput is not built yet")
    }
}
