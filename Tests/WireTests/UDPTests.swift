/// Tests of UDP.swift: header parse/emit on the case (a) datagram, the RFC 768 checksum on
/// the kernel's fully checksummed f2 datagram and against a naive reference, the kernel's
/// "partial" checksums (REFERENCE.md §4.6), and malformed lengths.
import Engine
import Testing
import Wire

@Suite struct UDPTests {
    let client = IPv4Address(10, 244, 0, 2)
    let web0 = IPv4Address(10, 244, 0, 3)
    let web1 = IPv4Address(10, 244, 1, 2)

    func udp(_ bytes: [UInt8]) -> Result<UDPHeader, WireError> {
        parsing(bytes) { p throws(WireError) in try UDPHeader(parsing: p) }
    }

    @Test func parsesCaseA() throws {
        // client__eth0.pcap #4: 49005 > 8080, length 72, checksum 0x1646 (partial).
        let u = try udp(Fixtures.udpClientToWeb0.slice(34..<106)).get()
        #expect(u == UDPHeader(sourcePort: 49005, destinationPort: 8080, length: 72, checksum: 0x1646))
        #expect(UDPHeader.length == 8)
    }

    @Test func emitReproducesHeaderFields() throws {
        let datagram = Fixtures.udpClientToWeb0.slice(34..<106)
        let u = try udp(datagram).get()
        #expect(emitted(count: 8) { u.emit(into: $0) } == datagram.slice(0..<8))
        let reassembled = Fixtures.reassembledDatagram.slice(34..<2042)
        let r = try udp(reassembled).get()
        #expect(r == UDPHeader(sourcePort: 36496, destinationPort: 8080, length: 2008, checksum: 0x4EBA))
        #expect(emitted(count: 8) { r.emit(into: $0) } == reassembled.slice(0..<8))
    }

    @Test func kernelPartialChecksumIsThePseudoHeaderSum() {
        // CHECKSUM_PARTIAL: the field holds the folded, uncomplemented pseudo-header sum
        // (what signature.py calls "partial"); offload would add the datagram's own sum.
        var c = InternetChecksum()
        c.add(client)
        c.add(web0)
        c.add(UInt16(17))
        c.add(UInt16(72))
        #expect(~c.finalize() == 0x1646)
        // So it does not verify as a full checksum.
        #expect(!Fixtures.udpClientToWeb0.slice(34..<106).withUnsafeBytes {
            UDPHeader.isChecksumValid(source: client, destination: web0, datagram: $0)
        })
    }

    @Test func checksumOfTheReassembledF2Datagram() {
        // pi-1__cni0.pcap #41: fragmented sends are checksummed in software, so the
        // reassembled 2008-byte datagram carries a valid checksum (REFERENCE.md §4.6).
        let datagram = Fixtures.reassembledDatagram.slice(34..<2042)
        datagram.withUnsafeBytes { d in
            #expect(UDPHeader.checksum(source: client, destination: web1, datagram: d) == 0x4EBA)
            #expect(UDPHeader.isChecksumValid(source: client, destination: web1, datagram: d))
            // Under the wrong pseudo-header (a NAT that forgot the checksum) it fails.
            #expect(!UDPHeader.isChecksumValid(source: client, destination: web0, datagram: d))
        }
        // The first fragment carries the same checksum in its UDP header.
        #expect(Fixtures.fragmentFirst.slice(34..<42) == datagram.slice(0..<8))
    }

    @Test func checksumOfCaseAVerifiedWithPython() {
        // Full checksum of client__eth0.pcap #4's datagram, computed independently in
        // Python (RFC 768 over pseudo-header + datagram with the field zeroed): 0x79f6.
        var datagram = Fixtures.udpClientToWeb0.slice(34..<106)
        let sum = datagram.withUnsafeBytes { UDPHeader.checksum(source: client, destination: web0, datagram: $0) }
        #expect(sum == 0x79F6)
        datagram.setU16(sum, at: 6)
        #expect(datagram.withUnsafeBytes { UDPHeader.isChecksumValid(source: client, destination: web0, datagram: $0) })
        // Whatever the field holds beforehand does not change the result.
        for stale: UInt16 in [0, 0x1646, 0xFFFF, 0x79F6] {
            datagram.setU16(stale, at: 6)
            #expect(datagram.withUnsafeBytes { UDPHeader.checksum(source: client, destination: web0, datagram: $0) } == 0x79F6)
        }
    }

    @Test func checksumMatchesNaiveForOddAndEvenLengths() {
        var rng = SeededGenerator(seed: 768)
        for n in Array(8...80) + [1401, 1407, 1408, 1409, 1472, 2008, 2009] {
            var d = [UInt8].random(count: n, using: &rng)
            d.setU16(UInt16(n), at: 4)
            let src = IPv4Address(rawValue: .random(in: 0...UInt32.max, using: &rng))
            let dst = IPv4Address(rawValue: .random(in: 0...UInt32.max, using: &rng))
            var zeroed = d
            zeroed.setU16(0, at: 6)
            var expected = naiveChecksum(pseudoHeader(src, dst, length: n) + zeroed)
            if expected == 0 { expected = 0xFFFF }
            let got = d.withUnsafeBytes { UDPHeader.checksum(source: src, destination: dst, datagram: $0) }
            #expect(got == expected, "length \(n)")
            d.setU16(got, at: 6)
            #expect(d.withUnsafeBytes { UDPHeader.isChecksumValid(source: src, destination: dst, datagram: $0) })
            d[n - 1] ^= 0x80
            #expect(!d.withUnsafeBytes { UDPHeader.isChecksumValid(source: src, destination: dst, datagram: $0) })
        }
    }

    @Test func computedZeroIsSentAsFFFF() {
        // Make the datagram's sum come out as 0xFFFF, so the complement is 0: RFC 768 then
        // transmits all ones, since 0 means "no checksum".
        var d = Fixtures.udpClientToWeb0.slice(34..<106)
        d.setU16(0, at: 70)
        let c = d.withUnsafeBytes { UDPHeader.checksum(source: client, destination: web0, datagram: $0) }
        d.setU16(c, at: 70)   // adds ~S to the sum S: the new sum is 0xFFFF
        let zero = d.withUnsafeBytes { UDPHeader.checksum(source: client, destination: web0, datagram: $0) }
        #expect(zero == 0xFFFF)
        d.setU16(zero, at: 6)
        #expect(d.withUnsafeBytes { UDPHeader.isChecksumValid(source: client, destination: web0, datagram: $0) })
    }

    @Test func zeroChecksumMeansNone() {
        var d = Fixtures.udpClientToWeb0.slice(34..<106)
        d.setU16(0, at: 6)
        #expect(d.withUnsafeBytes { UDPHeader.isChecksumValid(source: client, destination: web0, datagram: $0) })
        #expect(!d.slice(0..<7).withUnsafeBytes { UDPHeader.isChecksumValid(source: client, destination: web0, datagram: $0) })
    }

    @Test func lengthBelowEightOrBeyondTheBytes() {
        let d = Fixtures.udpClientToWeb0.slice(34..<106)
        for len in 0..<8 {
            var b = d
            b.setU16(UInt16(len), at: 4)
            #expect(udp(b).failure == .badLength(layer: "UDP", len))
        }
        var b = d
        b.setU16(73, at: 4)
        #expect(udp(b).failure == .badLength(layer: "UDP", 73))
        // length 8 is an empty datagram; a shorter length than the bytes is allowed (padding).
        b.setU16(8, at: 4)
        #expect(udp(b).value?.length == 8)
    }

    @Test func everyPrefixThrows() {
        for (name, frame) in [("udpClientToWeb0", Fixtures.udpClientToWeb0), ("reassembled", Fixtures.reassembledDatagram)] {
            let d = frame.slice(34..<frame.count)
            for n in 0..<d.count {
                let r = udp(d.slice(0..<n))
                if n < 8 {
                    #expect(r.failure == .truncated(layer: "UDP", needed: 8, available: n), "\(name) \(n)")
                } else {
                    #expect(r.failure == .badLength(layer: "UDP", d.count), "\(name) \(n)")
                }
            }
        }
    }

    @Test func firstFragmentIsNotAWholeDatagram() {
        // client__eth0.pcap #50: the UDP header says 2008 but the fragment holds 1424.
        let d = Fixtures.fragmentFirst.slice(34..<1458)
        #expect(udp(d).failure == .badLength(layer: "UDP", 2008))
        #expect(parsing(d) { p throws(WireError) in try UDPHeader(parsingQuoted: p) }.value?.destinationPort == 8080)
    }

    @Test func buildsAndChecksumsADatagram() {
        // What a socket send does: header, payload, then the checksum over both.
        let payload = Array("PWREF|case=a|seq=1|".utf8) + [UInt8](repeating: 0x2E, count: 45)
        var d = [UInt8](repeating: 0, count: 8 + payload.count)
        d.replaceSubrange(8..., with: payload)
        d.withUnsafeMutableBytes { buf in
            UDPHeader(sourcePort: 49005, destinationPort: 8080, length: UInt16(buf.count)).emit(into: buf)
            let c = UDPHeader.checksum(source: client, destination: web0, datagram: UnsafeRawBufferPointer(buf))
            buf.storeBytes(of: c.bigEndian, toByteOffset: 6, as: UInt16.self)
        }
        var expected = Fixtures.udpClientToWeb0.slice(34..<106)
        expected.setU16(0x79F6, at: 6)
        #expect(d == expected)
    }

    @Test func outerChecksumFromAValidInnerDatagramEqualsTheFullSum() {
        // VXLAN's local checksum offload: the outer datagram holds a header part (outer UDP
        // header, VXLAN header, inner Ethernet and IPv4 headers) and then an inner UDP
        // datagram with a valid checksum; the inner bytes are not summed.
        var rng = SeededGenerator(seed: 1624)
        for n in Array(8...40) + [1408, 1409, 1472] {
            for prefix in [8, 16, 50, 54, 58] {
                var inner = [UInt8].random(count: n, using: &rng)
                inner.setU16(UInt16(n), at: 4)
                let isrc = IPv4Address(rawValue: .random(in: 0...UInt32.max, using: &rng))
                let idst = IPv4Address(rawValue: .random(in: 0...UInt32.max, using: &rng))
                inner.setU16(0, at: 6)
                inner.setU16(inner.withUnsafeBytes { UDPHeader.checksum(source: isrc, destination: idst, datagram: $0) }, at: 6)
                var outer = [UInt8].random(count: prefix, using: &rng) + inner
                outer.setU16(UInt16(outer.count), at: 4)
                let src = IPv4Address(rawValue: .random(in: 0...UInt32.max, using: &rng))
                let dst = IPv4Address(rawValue: .random(in: 0...UInt32.max, using: &rng))
                outer.withUnsafeBytes { d in
                    let full = UDPHeader.checksum(source: src, destination: dst, datagram: d)
                    let lco = UDPHeader.checksum(source: src, destination: dst, datagram: d, validInnerDatagramAt: prefix,
                                                 innerSource: isrc, innerDestination: idst)
                    #expect(lco == full, "inner \(n) bytes after \(prefix)")
                }
            }
        }
    }
}
