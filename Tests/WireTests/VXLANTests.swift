import Testing
import Wire

@Suite struct VXLANTests {
    /// REFERENCE.md §4.3: the header is exactly 08 00 00 00 00 00 01 00 (VNI 1).
    @Test func flannelHeaderBytes() throws {
        var out = [UInt8](repeating: 0xFF, count: 8)
        out.withUnsafeMutableBytes { VXLANHeader(vni: 1).emit(into: $0) }
        #expect(out == [0x08, 0, 0, 0, 0, 0, 0x01, 0])
        let h = try out.withUnsafeBytes { try VXLANHeader(parsing: $0) }
        #expect(h.vni == 1 && h.flags == 0x08)
        #expect(throws: WireError.self) { try [UInt8](repeating: 0, count: 7).withUnsafeBytes { try VXLANHeader(parsing: $0) } }
        #expect(VXLANHeader.overhead == 50)
    }

    @Test func sourcePortsStayInTheEphemeralRange() {
        var g: UInt32 = 1
        for _ in 0..<10_000 {
            g = g &* 1_664_525 &+ 1_013_904_223
            let p = VXLANHeader.sourcePort(flowHash: g)
            #expect(p >= 32768 && p <= 60999)
        }
        #expect(VXLANHeader.sourcePort(flowHash: 0) == 32768)
        #expect(VXLANHeader.sourcePort(flowHash: 0xFFFF_FFFF) <= 60999)
    }
}
