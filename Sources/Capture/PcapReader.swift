/// Reading classic pcap (or pcapng) files back through libpcap, for tests and tools.

/// Reads a capture with `pcap_open_offline_with_tstamp_precision(…, NANO)`, so
/// timestamps come back in nanoseconds whatever the file's own precision.
public struct PcapReader {
    /// `nanosecondPrecision` is true when the file is classic pcap with the nanosecond
    /// magic 0xa1b23c4d (in either byte order).
    public static func read(path: String) throws(CaptureError) -> (
        linkType: Int32, nanosecondPrecision: Bool,
        packets: [(seconds: Int64, nanoseconds: Int64, bytes: [UInt8], originalLength: Int)]
    ) {
        let reader = try PcapOfflineReader(path: path)
        var packets: [(seconds: Int64, nanoseconds: Int64, bytes: [UInt8], originalLength: Int)] = []
        try reader.forEach { seconds, nanoseconds, bytes, originalLength in
            packets.append((seconds, nanoseconds, Array(bytes), originalLength))
        }
        let magic = PcapOfflineReader.magic(path: path)
        let nano = magic == LibPcap.nanosecondMagic || magic == LibPcap.nanosecondMagic.byteSwapped
        return (reader.linkType, nano, packets)
    }
}
