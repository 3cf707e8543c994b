/// Tests of Ethernet.swift and EtherType.swift on real frames: parse, emit, round trip,
/// truncation and lossless unknown EtherTypes.
import Testing
import Wire

@Suite struct EthernetTests {
    let client = MACAddress(0x02, 0x44, 0, 0, 0, 0x02)
    let web0 = MACAddress(0x02, 0x44, 0, 0, 0, 0x03)
    let cni0 = MACAddress(0x02, 0x44, 0, 0, 0, 0x01)

    @Test func parsesARPBroadcast() throws {
        let h = try parsing(Fixtures.arpRequestClientToWeb0) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        #expect(h.destination == .broadcast)
        #expect(h.destination.isBroadcast && h.destination.isMulticast)
        #expect(h.source == client)
        #expect(h.etherType == .arp)
    }

    @Test func parsesUnicastFrames() throws {
        let udp = try parsing(Fixtures.udpClientToWeb0) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        #expect(udp == EthernetHeader(destination: web0, source: client, etherType: .ipv4))
        let reply = try parsing(Fixtures.arpReplyWeb0ToClient) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        #expect(reply == EthernetHeader(destination: client, source: web0, etherType: .arp))
        let echo = try parsing(Fixtures.icmpEchoRequest) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        #expect(echo == EthernetHeader(destination: cni0, source: client, etherType: .ipv4))
        let fragNeeded = try parsing(Fixtures.icmpFragNeeded) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        #expect(fragNeeded.source == MACAddress("02:50:00:00:00:12"))
        #expect(fragNeeded.destination == MACAddress("02:50:00:00:01:00"))
    }

    @Test(arguments: Fixtures.all.map(\.name))
    func emitReproducesHeader(name: String) throws {
        let frame = Fixtures.all.first { $0.name == name }!.frame
        let h = try parsing(frame) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        let out = emitted(count: EthernetHeader.length) { h.emit(into: $0) }
        #expect(out == frame.slice(0..<14))
        // Emitting into a larger buffer touches only the first 14 bytes.
        var big = [UInt8](repeating: 0xAA, count: 20)
        big.withUnsafeMutableBytes { h.emit(into: $0) }
        #expect(big.slice(0..<14) == frame.slice(0..<14))
        #expect(big.slice(14..<20) == [UInt8](repeating: 0xAA, count: 6))
    }

    @Test func everyShortPrefixThrowsTruncated() {
        for (_, frame) in Fixtures.all {
            for n in 0..<EthernetHeader.length {
                let r = parsing(frame.slice(0..<n)) { p throws(WireError) in try EthernetHeader(parsing: p) }
                #expect(r.failure == .truncated(layer: "Ethernet", needed: 14, available: n))
            }
            #expect(parsing(frame.slice(0..<14)) { p throws(WireError) in try EthernetHeader(parsing: p) }.value != nil)
        }
    }

    @Test func namedEtherTypes() {
        #expect(EtherType(rawValue: 0x0800) == .ipv4)
        #expect(EtherType(rawValue: 0x0806) == .arp)
        #expect(EtherType(rawValue: 0x86DD) == .ipv6)
        #expect(EtherType(rawValue: 0x8100) == .vlan)
        #expect(EtherType.ipv4.description == "IPv4")
        #expect(EtherType(rawValue: 0x88B5).description == "0x88b5")
    }

    @Test(arguments: [UInt16(0x0000), 0x05DC, 0x88B5, 0x88CC, 0x9000, 0xFFFF, 0x8100, 0x86DD])
    func unknownEtherTypesRoundTrip(raw: UInt16) throws {
        var frame = Fixtures.udpClientToWeb0
        frame.setU16(raw, at: 12)
        let h = try parsing(frame) { p throws(WireError) in try EthernetHeader(parsing: p) }.get()
        #expect(h.etherType.rawValue == raw)
        #expect(emitted(count: 14) { h.emit(into: $0) } == frame.slice(0..<14))
    }
}

/// Emitting into a buffer shorter than the header is the caller's bug: a precondition
/// failure, checked in a child process (Swift Testing exit tests).
@Suite struct EmitPreconditionTests {
    @Test func shortBuffersTrap() async {
        await #expect(processExitsWith: .failure) {
            var b = [UInt8](repeating: 0, count: 13)
            b.withUnsafeMutableBytes { EthernetHeader(destination: .broadcast, source: .zero, etherType: .arp).emit(into: $0) }
        }
        await #expect(processExitsWith: .failure) {
            var b = [UInt8](repeating: 0, count: 19)
            b.withUnsafeMutableBytes {
                _ = IPv4Header(totalLength: 20, protocol: .udp, source: .any, destination: .any).emit(into: $0)
            }
        }
        await #expect(processExitsWith: .failure) {
            var b = [UInt8](repeating: 0, count: 20)
            b.withUnsafeMutableBytes {
                _ = IPv4Header(totalLength: 20, fragmentOffset: 1, protocol: .udp, source: .any, destination: .any).emit(into: $0)
            }
        }
        await #expect(processExitsWith: .failure) {
            var b = [UInt8](repeating: 0, count: 7)
            b.withUnsafeMutableBytes { ICMPv4Header(type: .echoRequest, code: 0).emit(intoMessage: $0) }
        }
    }
}
