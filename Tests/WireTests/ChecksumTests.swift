/// Tests of Checksum.swift: RFC 1071 sums (examples, odd lengths, chunking, alignment)
/// against a naive reference, and RFC 1624 incremental updates against full recomputation.
import Engine
import Testing
import Wire

@Suite struct ChecksumTests {
    @Test func rfc1071Example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2 (one's complement).
        let bytes: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        #expect(checksum(bytes) == ~UInt16(0xDDF2))
        #expect(naiveChecksum(bytes) == ~UInt16(0xDDF2))
    }

    @Test func emptyAndZeroes() {
        #expect(InternetChecksum().finalize() == 0xFFFF)
        #expect(checksum([]) == 0xFFFF)
        #expect(checksum([0, 0, 0]) == 0xFFFF)
        // A non-zero sum that is a multiple of 0xFFFF folds to 0xFFFF ("-0"), not to 0.
        #expect(checksum([0xFF, 0xFF]) == 0x0000)
        #expect(checksum([0xFF, 0xFF, 0xFF, 0xFF]) == 0x0000)
    }

    @Test func oddLength() {
        // The odd last byte is the high byte of a zero-padded word.
        #expect(checksum([0x01]) == ~UInt16(0x0100))
        #expect(checksum([0x12, 0x34, 0x56]) == ~UInt16(0x1234 &+ 0x5600))
        var rng = SeededGenerator(seed: 1071)
        for n in 0...200 {
            let b = [UInt8].random(count: n, using: &rng)
            #expect(checksum(b) == naiveChecksum(b), "length \(n)")
        }
    }

    @Test func matchesNaiveAtEveryAlignmentAndManySizes() {
        var rng = SeededGenerator(seed: 42)
        let big = [UInt8].random(count: 4200, using: &rng)
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
                  1427, 1428, 1429, 1472, 1500, 2008, 4096] {
            for offset in 0..<8 {
                let slice = Array(big[offset..<(offset + n)])
                let fast = big.withUnsafeBytes { p -> UInt16 in
                    var c = InternetChecksum()
                    c.add(UnsafeRawBufferPointer(rebasing: p[offset..<(offset + n)]))
                    return c.finalize()
                }
                #expect(fast == naiveChecksum(slice), "n \(n) offset \(offset)")
            }
        }
        // All-0xFF data stresses every accumulator's carries.
        for n in [32, 1428, 4096] {
            let ff = [UInt8](repeating: 0xFF, count: n)
            #expect(checksum(ff) == naiveChecksum(ff))
        }
    }

    @Test func chunkedAddsEqualOneAdd() {
        // Even chunks followed by one odd final chunk (the documented contract), and also
        // arbitrary odd chunks in the middle (re-aligned by byte swapping).
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<500 {
            let n = Int.random(in: 0...300, using: &rng)
            let b = [UInt8].random(count: n, using: &rng)
            var cuts = (0..<Int.random(in: 0...6, using: &rng)).map { _ in Int.random(in: 0...n, using: &rng) }
            cuts.sort()
            var c = InternetChecksum()
            b.withUnsafeBytes { p in
                var start = 0
                for cut in cuts + [n] {
                    c.add(UnsafeRawBufferPointer(rebasing: p[start..<cut]))
                    start = cut
                }
            }
            #expect(c.finalize() == naiveChecksum(b))
        }
    }

    @Test func wordsAndAddressesEqualTheirBytes() {
        var c = InternetChecksum()
        c.add(IPv4Address(10, 244, 0, 2))
        c.add(UInt16(0x0011))
        c.add(UInt16(0xABCD))
        #expect(c.finalize() == naiveChecksum([10, 244, 0, 2, 0x00, 0x11, 0xAB, 0xCD]))
    }

    @Test func rfc1624Section3Example() {
        // RFC 1624 §3: the rest of the header sums to 0xCD7A; m = 0x5555 → m' = 0x3285.
        let before: [UInt8] = [0xCD, 0x7A, 0x55, 0x55]
        let after: [UInt8] = [0xCD, 0x7A, 0x32, 0x85]
        #expect(checksum(before) == 0xDD2F)
        #expect(checksum(after) == 0x0000)   // recomputation
        // Eqn. 3 gives 0x0000 as well; eqn. 2 (RFC 1141) would give 0xFFFF.
        #expect(InternetChecksum.update(checksum: 0xDD2F, old: UInt16(0x5555), new: UInt16(0x3285)) == 0x0000)
        // And back again.
        #expect(InternetChecksum.update(checksum: 0x0000, old: UInt16(0x3285), new: UInt16(0x5555)) == 0xDD2F)
    }

    @Test func incrementalUpdateEqualsRecomputation16() {
        var rng = SeededGenerator(seed: 1624)
        for _ in 0..<5000 {
            // A random IPv4-like header: 20 bytes with a valid checksum at 10.
            var h = [UInt8].random(count: 20, using: &rng)
            h.setU16(0, at: 10)
            h.setU16(checksum(h), at: 10)
            #expect(checksum(h) == 0)
            // Edit one random word other than the checksum.
            let word = [0, 1, 2, 3, 4, 6, 7, 8, 9].randomElement(using: &rng)! * 2
            let old = h.u16(at: word)
            let new: UInt16 = Bool.random(using: &rng) ? UInt16.random(in: 0...0xFFFF, using: &rng)
                : [0x0000, 0xFFFF, ~old, old].randomElement(using: &rng)!
            let updated = InternetChecksum.update(checksum: h.u16(at: 10), old: old, new: new)
            h.setU16(new, at: word)
            h.setU16(0, at: 10)
            #expect(updated == checksum(h), "word \(word) \(old) → \(new)")
        }
    }

    @Test func incrementalUpdateEqualsRecomputation32() {
        var rng = SeededGenerator(seed: 3022)
        for _ in 0..<5000 {
            var h = [UInt8].random(count: 20, using: &rng)
            h.setU16(0, at: 10)
            h.setU16(checksum(h), at: 10)
            let at = Bool.random(using: &rng) ? 12 : 16
            let old = UInt32(h.u16(at: at)) << 16 | UInt32(h.u16(at: at + 2))
            let new = UInt32.random(in: 0...UInt32.max, using: &rng)
            let updated = InternetChecksum.update(checksum: h.u16(at: 10), old: old, new: new)
            h.setU16(UInt16(new >> 16), at: at)
            h.setU16(UInt16(truncatingIfNeeded: new), at: at + 2)
            h.setU16(0, at: 10)
            #expect(updated == checksum(h))
        }
    }

    @Test func updateOnRealHeadersLikeNAT() {
        // DNAT the case (a) datagram's destination 10.244.0.3 → 10.96.0.20, as kube-proxy's
        // reverse path would, and compare with a full recomputation of the header.
        var frame = Fixtures.udpClientToWeb0
        let old = IPv4Address(10, 244, 0, 3), new = IPv4Address(10, 96, 0, 20)
        let updated = InternetChecksum.update(checksum: frame.u16(at: 24), old: old.rawValue, new: new.rawValue)
        frame.withUnsafeMutableBytes { new.store(to: $0.baseAddress! + 30) }
        frame.setU16(0, at: 24)
        #expect(updated == checksum(frame.slice(14..<34)))
    }
}
