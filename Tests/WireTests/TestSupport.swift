/// Helpers shared by the Wire tests: parsing arrays into `Result`s, emitting into fresh
/// arrays, random bytes from Engine's seeded generator, and a naive RFC 1071 reference sum to
/// check the fast one.
import Engine
import Wire

/// Runs a parser over `bytes`, turning the typed error into a `Result`.
func parsing<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> T) -> Result<T, WireError> {
    bytes.withUnsafeBytes { p in Result { () throws(WireError) -> T in try body(p) } }
}

/// Calls `body` with a zeroed buffer of `count` bytes and returns them.
func emitted(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { body($0) }
    return out
}

extension Result {
    var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
    var value: Success? {
        if case .success(let v) = self { return v }
        return nil
    }
}

extension Array where Element == UInt8 {
    static func random(count: Int, using rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    func u16(at i: Int) -> UInt16 { UInt16(self[i]) << 8 | UInt16(self[i + 1]) }

    mutating func setU16(_ v: UInt16, at i: Int) {
        self[i] = UInt8(v >> 8)
        self[i + 1] = UInt8(truncatingIfNeeded: v)
    }
}

/// RFC 1071 written the obvious way: big-endian 16-bit words, an odd byte padded with zero,
/// end-around carry, complemented. The reference the fast implementation is checked against.
func naiveChecksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i < bytes.count {
        let hi = UInt32(bytes[i])
        let lo = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
        sum += hi << 8 | lo
        sum = (sum & 0xFFFF) + (sum >> 16)
        i += 2
    }
    return ~UInt16(sum)
}

/// One-shot RFC 1071 checksum with the module's implementation.
func checksum(_ bytes: [UInt8]) -> UInt16 {
    var c = InternetChecksum()
    bytes.withUnsafeBytes { c.add($0) }
    return c.finalize()
}

/// The UDP pseudo-header as bytes (RFC 768), for naive reference sums.
func pseudoHeader(_ src: IPv4Address, _ dst: IPv4Address, length: Int) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 12)
    b.withUnsafeMutableBytes { p in
        src.store(to: p.baseAddress!)
        dst.store(to: p.baseAddress! + 4)
    }
    b[9] = 17
    b.setU16(UInt16(length), at: 10)
    return b
}
