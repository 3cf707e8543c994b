/// Capture filters in tcpdump's syntax, compiled and run by libpcap.

/// A BPF program compiled by libpcap (`pcap_compile` on a `pcap_open_dead(DLT_EN10MB)`
/// handle) and matched with `pcap_offline_filter`, exactly as tcpdump would filter.
public final class BPFFilter {
    /// The expression as given.
    public let expression: String
    private let program: CompiledBPF

    /// Throws `.badFilter` carrying libpcap's own error text.
    public init(expression: String, snaplen: Int) throws(CaptureError) {
        self.expression = expression
        let snaplen = snaplen <= 0 || snaplen > LibPcap.maximumSnaplen ? LibPcap.maximumSnaplen : snaplen
        program = try CompiledBPF(expression: expression, snaplen: snaplen)
    }

    /// Whether the filter accepts this Ethernet frame (seen truncated to the snaplen, as
    /// a live capture would).
    @inline(__always)
    public func matches(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard let base = frame.baseAddress else { return false }
        return program.matches(base, capturedLength: min(frame.count, program.snaplen),
                               originalLength: frame.count)
    }
}
