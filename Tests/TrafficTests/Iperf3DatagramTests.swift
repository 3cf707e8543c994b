/// The iperf3 UDP header: byte layout, truncation to µs, short datagrams.
import Engine
import Testing
@testable import Traffic

@Suite struct Iperf3DatagramTests {
    @Test func emitsBigEndianSecondsMicrosecondsSequence() {
        let h = Iperf3DatagramHeader(sendTime: SimTime(nanoseconds: 2_000_345_999), sequence: 0x0102_0304)
        #expect(h.seconds == 2)
        #expect(h.microseconds == 345)   // truncated, as gettimeofday would
        var bytes = [UInt8](repeating: 0xAA, count: 14)
        bytes.withUnsafeMutableBytes { h.emit(into: $0) }
        #expect(bytes == [0, 0, 0, 2, 0, 0, 0x01, 0x59, 1, 2, 3, 4, 0xAA, 0xAA])
        let parsed = bytes.withUnsafeBytes { Iperf3DatagramHeader(parsing: $0) }
        #expect(parsed == h)
        #expect(parsed?.sendTime == SimTime(nanoseconds: 2_000_345_000))
    }

    @Test func shortDatagramDoesNotParse() {
        let bytes = [UInt8](repeating: 0, count: Iperf3DatagramHeader.length - 1)
        #expect(bytes.withUnsafeBytes { Iperf3DatagramHeader(parsing: $0) } == nil)
        #expect(Iperf3DatagramHeader.length == 12)
    }
}
