/// The one error type of the Wire module: why untrusted bytes could not be parsed.
///
/// Parsing never traps on malformed input; every `init(parsing:)` throws one of these.
/// `layer` names the protocol ("Ethernet", "ARP", "IPv4", "UDP", "ICMPv4").
public enum WireError: Error, Equatable, Sendable {
    /// Fewer bytes than the layer needs: `needed` bytes were required, `available` were there.
    case truncated(layer: String, needed: Int, available: Int)
    /// IPv4 version nibble other than 4.
    case badVersion(UInt8)
    /// IPv4 header length (IHL × 4, in bytes) below 20 or beyond the buffer.
    case badHeaderLength(Int)
    /// IPv4 total length smaller than the header length.
    case badTotalLength(Int)
    /// A length field outside its legal range, e.g. a UDP length < 8 or > the bytes available.
    case badLength(layer: String, Int)
    /// Well-formed but outside what is modelled, e.g. ARP for a hardware type other than Ethernet.
    case unsupported(layer: String, detail: String)
}

extension WireError {
    // Error construction is the slow path: kept out of line so the inlined parsers stay small.

    @usableFromInline @inline(never)
    static func truncatedError(_ layer: StaticString, needed: Int, available: Int) -> WireError {
        .truncated(layer: layer.description, needed: needed, available: available)
    }

    @usableFromInline @inline(never)
    static func unsupportedError(_ layer: StaticString, _ field: StaticString, _ value: Int) -> WireError {
        .unsupported(layer: layer.description, detail: "\(field) \(value)")
    }
}
