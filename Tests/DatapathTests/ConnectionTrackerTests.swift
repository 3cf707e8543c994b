import XCTest
@testable import Datapath
import Engine
import Wire

/// Tests of `ConnectionTracker` against Linux nf_conntrack's behaviour for UDP, ICMP and the
/// generic tracker, and against `conntrack -L` lines from the kernel reference run
/// (reference/kernel-ref/out/state/pi-1.conntrack.after.txt).
final class ConnectionTrackerTests: XCTestCase {
    // MARK: - Fixtures

    private func ip(_ s: String) -> IPv4Address { IPv4Address(s)! }

    private func t(_ seconds: Double) -> SimTime { SimTime.zero + .seconds(seconds) }

    private func udp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> ConntrackTuple {
        .udp(ip(src), sport, ip(dst), dport)
    }

    /// The first packet of a flow, as nf_conntrack_in + the confirm at the last hook see it:
    /// create, optional NAT, the packet's own refresh, confirm.
    @discardableResult
    private func open(_ ct: ConnectionTracker, _ original: ConntrackTuple, reply: ConntrackTuple? = nil,
                      at now: SimTime, file: StaticString = #filePath, line: UInt = #line) -> ConntrackEntryID {
        guard let id = ct.create(original: original, now: now) else {
            XCTFail("create failed", file: file, line: line)
            return ConntrackEntryID(rawValue: -1)
        }
        if let reply { ct.setReply(id, reply) }
        ct.packet(id, direction: .original, length: 64, now: now)
        XCTAssertEqual(ct.confirm(id, now: now), .confirmed, "confirm failed", file: file, line: line)
        return id
    }

    /// A packet arriving later: find it, then refresh.
    private func pass(_ ct: ConnectionTracker, _ tuple: ConntrackTuple, at now: SimTime,
                      file: StaticString = #filePath, line: UInt = #line) {
        guard let (id, direction) = ct.find(tuple, now: now) else {
            XCTFail("flow \(tuple) not found", file: file, line: line)
            return
        }
        ct.packet(id, direction: direction, length: 64, now: now)
    }

    /// An assured UDP flow: first packet at `start`, a reply at +0.5 s, a packet at +3 s.
    private func openAssured(_ ct: ConnectionTracker, _ original: ConntrackTuple, at start: SimTime) -> ConntrackEntryID {
        let id = open(ct, original, at: start)
        pass(ct, original.inverted, at: start + .milliseconds(500))
        pass(ct, original, at: start + .seconds(3))
        XCTAssertTrue(ct.entry(id).status.contains(.assured))
        return id
    }

    // MARK: - Tuples

    func testUDPInversionSwapsAddressesAndPorts() {
        let original = udp("10.244.0.2", 45596, "10.96.0.20", 80)
        XCTAssertEqual(original.inverted, udp("10.96.0.20", 80, "10.244.0.2", 45596))
        XCTAssertEqual(original.inverted.inverted, original)
    }

    func testICMPInversionMapsRequestToReplyAndKeepsIdentifier() {
        let request = ConntrackTuple.icmp(ip("10.244.0.2"), ip("10.244.1.2"), type: 8, code: 0, identifier: 30173)
        let reply = request.inverted
        XCTAssertEqual(reply.source, ip("10.244.1.2"))
        XCTAssertEqual(reply.destination, ip("10.244.0.2"))
        XCTAssertEqual(reply.icmpType, 0)
        XCTAssertEqual(reply.icmpCode, 0)
        XCTAssertEqual(reply.icmpIdentifier, 30173)
        XCTAssertEqual(reply.inverted, request)
        for (a, b): (UInt8, UInt8) in [(8, 0), (13, 14), (15, 16), (17, 18)] {
            XCTAssertEqual(ConntrackTuple.invertedICMPType(a), b)
            XCTAssertEqual(ConntrackTuple.invertedICMPType(b), a)
        }
        // Types without a reply keep their type.
        XCTAssertEqual(ConntrackTuple.invertedICMPType(3), 3)
        let unreachable = ConntrackTuple.icmp(ip("10.0.0.1"), ip("10.0.0.2"), type: 3, code: 3, identifier: 0)
        XCTAssertEqual(unreachable.inverted.destinationPort, 3 << 8 | 3)
    }

    func testGenericInversionSwapsAddressesOnly() {
        let igmp = ConntrackTuple(source: ip("10.244.0.1"), destination: ip("224.0.0.22"), sourcePort: 0,
                                  destinationPort: 0, protocolNumber: 2)
        XCTAssertEqual(igmp.inverted, ConntrackTuple(source: ip("224.0.0.22"), destination: ip("10.244.0.1"),
                                                     sourcePort: 0, destinationPort: 0, protocolNumber: 2))
    }

    // MARK: - Find, confirm

    func testFindMatchesBothDirections() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let original = udp("10.244.0.2", 45596, "10.96.0.20", 80)
        let reply = udp("10.244.0.3", 8080, "10.244.0.2", 45596)
        let id = open(ct, original, reply: reply, at: t(0))
        let forward = ct.find(original, now: t(1))
        XCTAssertEqual(forward?.0, id)
        XCTAssertEqual(forward?.1, .original)
        let backward = ct.find(reply, now: t(1))
        XCTAssertEqual(backward?.0, id)
        XCTAssertEqual(backward?.1, .reply)
        // The un-NATed inverse is not a tuple of this entry.
        XCTAssertNil(ct.find(original.inverted, now: t(1)))
        XCTAssertEqual(ct.count, 1)
        XCTAssertEqual(ct.tuple(id, .original), original)
        XCTAssertEqual(ct.tuple(id, .reply), reply)
        XCTAssertEqual(ct.status(id), [.confirmed, .dstNAT])
    }

    func testUnconfirmedEntryIsNotFindable() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let original = udp("10.244.0.2", 1000, "10.244.0.3", 8080)
        let id = ct.create(original: original, now: t(0))!
        XCTAssertNil(ct.find(original, now: t(0)))
        XCTAssertNil(ct.find(original.inverted, now: t(0)))
        XCTAssertEqual(ct.count, 0)
        XCTAssertEqual(ct.unconfirmedCount, 1)
        XCTAssertEqual(ct.state(id, direction: .original), .new)
        XCTAssertEqual(ct.confirm(id, now: t(0)), .confirmed)
        XCTAssertEqual(ct.find(original, now: t(0))?.0, id)
        XCTAssertEqual(ct.unconfirmedCount, 0)
    }

    /// glibc's parallel A/AAAA queries, or datagrams that waited together for ARP: two first
    /// packets of one UDP flow race to confirm. With the same reply tuple (the same NAT, or
    /// none) the loser is merged into the winner and its packet goes on (`nf_ct_resolve_clash`).
    /// Linux 6.18 in namespaces: three datagrams to a ClusterIP whose same-node endpoint did
    /// not answer ARP for 0.5 s each made an entry (the DNAT rule counted 3); all three were
    /// delivered, `conntrack -S` said clash_resolve=2 insert_failed=0, and 1 entry was left.
    func testConfirmClashOnOriginalTupleWithTheSameReplyMerges() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let query = udp("10.244.1.2", 40000, "10.96.0.10", 53)
        let a = ct.create(original: query, now: t(0))!
        let b = ct.create(original: query, now: t(0))!
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(ct.confirm(a, now: t(0)), .confirmed)
        XCTAssertEqual(ct.confirm(b, now: t(0)), .merged(a))
        XCTAssertEqual(ct.statistics.insert, 0)
        XCTAssertEqual(ct.statistics.clashResolve, 1)
        XCTAssertEqual(ct.statistics.insertFailed, 0)
        XCTAssertEqual(ct.count, 1)
        XCTAssertEqual(ct.unconfirmedCount, 0)
        XCTAssertEqual(ct.find(query, now: t(1))?.0, a)
        XCTAssertTrue(ct.checkInvariants())
    }

    /// Unconfirmed entries of one client flow to 10.96.0.20:80, each DNATed to one of
    /// `endpoints` (port 8080): first packets racing to confirm.
    private func racing(_ ct: ConnectionTracker, to endpoints: [String]) -> [ConntrackEntryID] {
        endpoints.map { endpoint in
            let id = ct.create(original: udp("10.244.0.2", 40000, "10.96.0.20", 80), now: t(0))!
            ct.setReply(id, udp(endpoint, 8080, "10.244.0.2", 40000))
            return id
        }
    }

    /// The same race where the two DNATs chose different endpoints (current kernels,
    /// `nf_ct_resolve_clash_harder`): the loser's reply tuple is free, so it goes in by that
    /// tuple alone, hidden from `conntrack -L`, for one fixed second. The flow's packets find
    /// the winner; replies from the loser's endpoint find the loser. Linux 6.18 in namespaces
    /// (2026-11-25, Tests/kernel-twin/conntrack-clash.sh): clash_resolve counted it,
    /// `conntrack -L` showed one entry, `conntrack -C` 2, then 1 once the second was up and a
    /// dump had reaped it; the reply through the hidden entry came back from the Service
    /// address.
    func testConfirmClashWithOtherNATGoesInByItsReplyTupleForASecond() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let toService = udp("10.244.0.2", 40000, "10.96.0.20", 80)
        let fromFirst = udp("10.244.0.3", 8080, "10.244.0.2", 40000)
        let fromSecond = udp("10.244.1.2", 8080, "10.244.0.2", 40000)
        let raced = racing(ct, to: ["10.244.0.3", "10.244.1.2"])
        let (a, b) = (raced[0], raced[1])
        ct.packet(b, direction: .original, length: 30, now: t(0))
        XCTAssertEqual(ct.confirm(a, now: t(0)), .confirmed)
        XCTAssertEqual(ct.confirm(b, now: t(0.5)), .insertedByReply)
        XCTAssertEqual(ct.statistics.clashResolve, 1)
        XCTAssertEqual(ct.statistics.insertFailed, 0)
        XCTAssertEqual(ct.statistics.drop, 0)
        XCTAssertEqual(ct.count, 2)
        XCTAssertEqual(ct.unconfirmedCount, 0)
        XCTAssertTrue(ct.checkInvariants())
        // Listed: the winner only.
        XCTAssertEqual(ct.entries(now: t(0.5)).map(\.reply), [fromFirst])
        XCTAssertEqual(ct.find(toService, now: t(0.6))?.0, a)
        XCTAssertEqual(ct.find(fromFirst, now: t(0.6))?.0, a)
        let hidden = ct.find(fromSecond, now: t(0.6))
        XCTAssertEqual(hidden?.0, b)
        XCTAssertEqual(hidden?.1, .reply)
        XCTAssertEqual(ct.status(b), [.confirmed, .dstNAT, .fixedTimeout, .natClash])
        // A reply neither extends its life nor makes it ASSURED, even as a stream.
        ct.packet(b, direction: .reply, length: 30, now: t(0.7))
        ct.packet(b, direction: .reply, length: 30, now: t(1.4))
        XCTAssertEqual(ct.entry(b).expires, t(1.5))
        XCTAssertFalse(ct.status(b).contains(.assured))
        XCTAssertEqual(ct.entry(b).replyCounters, ConntrackCounters(packets: 2, bytes: 60))
        // Gone a second after it went in; the winner stays.
        XCTAssertNil(ct.find(fromSecond, now: t(1.5)))
        XCTAssertEqual(ct.count, 1)
        XCTAssertEqual(ct.find(toService, now: t(1.5))?.0, a)
        XCTAssertTrue(ct.checkInvariants())
    }

    /// A third first packet of the flow whose NAT matches the hidden entry merges into it:
    /// its reply tuple is the hidden entry's.
    func testALaterLoserWithTheHiddenEntrysNATMergesIntoIt() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let entries = racing(ct, to: ["10.244.0.3", "10.244.1.2", "10.244.1.2"])
        XCTAssertEqual(ct.confirm(entries[0], now: t(0)), .confirmed)
        XCTAssertEqual(ct.confirm(entries[1], now: t(0)), .insertedByReply)
        XCTAssertEqual(ct.confirm(entries[2], now: t(0)), .merged(entries[1]))
        XCTAssertEqual(ct.statistics.clashResolve, 2)
        XCTAssertEqual(ct.count, 2)
        XCTAssertTrue(ct.checkInvariants())
    }

    /// ICMP has no `allow_clash`: the loser of an echo race is dropped. Linux 6.18 in
    /// namespaces (2026-11-25, Tests/kernel-twin/conntrack-clash.sh): three pings with one id to a DNAT whose endpoint answered ARP
    /// late gave one reply, `conntrack -S` insert_failed=2 drop=2 and one entry.
    func testICMPClashFailsAndCountsADrop() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let ping = ConntrackTuple(source: ip("10.244.0.2"), destination: ip("10.96.0.31"), sourcePort: 7, destinationPort: 8 << 8,
                                  protocolNumber: ConntrackTuple.icmpProtocol)
        let ids = (0..<3).map { _ in ct.create(original: ping, now: t(0))! }
        XCTAssertEqual(ct.confirm(ids[0], now: t(1)), .confirmed)
        XCTAssertEqual(ct.confirm(ids[1], now: t(1)), .failed)
        XCTAssertEqual(ct.confirm(ids[2], now: t(1)), .failed)
        XCTAssertEqual(ct.statistics.insertFailed, 2)
        XCTAssertEqual(ct.statistics.drop, 2)
        XCTAssertEqual(ct.tableFullDrops, 0)
        XCTAssertEqual(ct.statistics.clashResolve, 0)
        XCTAssertEqual(ct.statistics.insert, 0)
        XCTAssertEqual(ct.count, 1)
        XCTAssertEqual(ct.unconfirmedCount, 0)
        XCTAssertTrue(ct.checkInvariants())
    }

    /// `conntrack -S` counts on the CPU the caller says the packet runs on.
    func testStatisticsCountPerCPU() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let ping = ConntrackTuple(source: ip("10.244.0.2"), destination: ip("10.96.0.31"), sourcePort: 7, destinationPort: 8 << 8,
                                  protocolNumber: ConntrackTuple.icmpProtocol)
        let a = ct.create(original: ping, now: t(0))!
        let b = ct.create(original: ping, now: t(0))!
        XCTAssertEqual(ct.confirm(a, now: t(0)), .confirmed)
        ct.cpu = 2
        XCTAssertEqual(ct.confirm(b, now: t(0)), .failed)
        XCTAssertEqual(ct.statistics(cpu: 2).insertFailed, 1)
        XCTAssertEqual(ct.statistics(cpu: 2).drop, 1)
        XCTAssertEqual(ct.statistics(cpu: 0), ConntrackStatistics())
        XCTAssertEqual(ct.statistics(cpu: 3), ConntrackStatistics())
        XCTAssertEqual(ct.statistics.insertFailed, 1)
        XCTAssertTrue(ct.statisticsLine(cpu: 2).hasPrefix("cpu=2   \tfound=0 invalid=0 insert=0 insert_failed=1 drop=1 "))
    }

    /// A hidden entry can be evicted like any unassured one, and freeing it removes only the
    /// slot it has.
    func testEarlyDropCanEvictAHiddenEntry() {
        let ct = ConnectionTracker(maximum: 2, seed: 1)
        let toService = udp("10.244.0.2", 40000, "10.96.0.20", 80)
        let raced = racing(ct, to: ["10.244.0.3", "10.244.1.2"])
        let (a, b) = (raced[0], raced[1])
        ct.packet(a, direction: .original, length: 30, now: t(0))
        XCTAssertEqual(ct.confirm(a, now: t(0)), .confirmed)
        XCTAssertEqual(ct.confirm(b, now: t(0)), .insertedByReply)
        // Full: a new flow evicts one of the two unassured entries, the one nearest expiry
        // (the probe sees all three slots of this small table).
        let c = ct.create(original: udp("10.244.0.9", 1, "10.244.0.3", 8080), now: t(0.1))
        XCTAssertNotNil(c)
        XCTAssertEqual(ct.statistics.earlyDrop, 1)
        XCTAssertEqual(ct.count, 1)
        XCTAssertEqual(ct.find(toService, now: t(0.2))?.0, a)
        XCTAssertNil(ct.find(udp("10.244.1.2", 8080, "10.244.0.2", 40000), now: t(0.2)))
        XCTAssertTrue(ct.checkInvariants())
    }

    func testConfirmClashOnReplyTupleFails() {
        // Two clients SNATed to the same node port would share a reply tuple.
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let nodeReply = udp("192.168.50.100", 9000, "192.168.50.11", 61946)
        open(ct, udp("10.244.0.2", 39342, "192.168.50.100", 9000), reply: nodeReply, at: t(0))
        let other = ct.create(original: udp("10.244.0.3", 39342, "192.168.50.100", 9000), now: t(1))!
        ct.setReply(other, nodeReply)
        XCTAssertEqual(ct.confirm(other, now: t(1)), .failed)
        XCTAssertEqual(ct.statistics.insertFailed, 1)
        XCTAssertEqual(ct.statistics.drop, 1)
        XCTAssertEqual(ct.statistics.clashResolve, 0)
        XCTAssertEqual(ct.count, 1)
        XCTAssertTrue(ct.checkInvariants())
    }

    func testConfirmReapsAnExpiredHolderInsteadOfClashing() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let flow = udp("10.244.0.2", 1000, "10.244.0.3", 8080)
        open(ct, flow, at: t(0))
        let again = ct.create(original: flow, now: t(40))!
        XCTAssertEqual(ct.confirm(again, now: t(40)), .confirmed)
        XCTAssertEqual(ct.count, 1)
        XCTAssertEqual(ct.statistics.insertFailed, 0)
    }

    func testDiscardFreesTheUnconfirmedEntry() {
        let ct = ConnectionTracker(maximum: 1, seed: 1)
        let id = ct.create(original: udp("10.0.0.1", 1, "10.0.0.2", 2), now: t(0))!
        // The unconfirmed entry counts against nf_conntrack_max, as in the kernel.
        XCTAssertNil(ct.create(original: udp("10.0.0.1", 3, "10.0.0.2", 4), now: t(0)))
        ct.discard(id)
        XCTAssertEqual(ct.unconfirmedCount, 0)
        XCTAssertNotNil(ct.create(original: udp("10.0.0.1", 3, "10.0.0.2", 4), now: t(0)))
    }

    // MARK: - Timeouts

    func testUnrepliedUDPExpiresExactlyThirtySecondsAfterItsLastPacket() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let flow = udp("192.168.50.11", 34544, "192.168.50.12", 8472)
        let id = open(ct, flow, at: t(5))
        XCTAssertEqual(ct.entry(id).expires, t(35))
        XCTAssertNotNil(ct.find(flow, now: t(35) - .nanoseconds(1)))
        XCTAssertNil(ct.find(flow, now: t(35)))
        XCTAssertEqual(ct.count, 0, "find frees the expired entry it meets")
        XCTAssertTrue(ct.checkInvariants())
    }

    func testPacketsRefreshTheTimeout() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let flow = udp("10.244.0.2", 1000, "10.244.0.3", 8080)
        let id = open(ct, flow, at: t(0))
        pass(ct, flow, at: t(20))
        XCTAssertEqual(ct.entry(id).expires, t(50))
        XCTAssertNotNil(ct.find(flow, now: t(49)))
        XCTAssertNil(ct.find(flow, now: t(50)))
    }

    func testRepliedFlowOlderThanTwoSecondsBecomesAssuredWithStreamTimeout() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let flow = udp("10.244.0.2", 1000, "10.244.0.3", 8080)
        let id = open(ct, flow, at: t(0))
        XCTAssertFalse(ct.entry(id).status.contains(.seenReply))
        // The first reply sets SEEN_REPLY but is itself timed as unreplied.
        pass(ct, flow.inverted, at: t(1))
        XCTAssertTrue(ct.entry(id).status.contains(.seenReply))
        XCTAssertFalse(ct.entry(id).status.contains(.assured))
        XCTAssertEqual(ct.entry(id).expires, t(31))
        // At exactly 2 s the flow is not yet older than stream_ts (time_after is strict).
        pass(ct, flow, at: t(2))
        XCTAssertFalse(ct.entry(id).status.contains(.assured))
        XCTAssertEqual(ct.entry(id).expires, t(32))
        pass(ct, flow, at: t(2.5))
        XCTAssertTrue(ct.entry(id).status.contains(.assured))
        XCTAssertEqual(ct.entry(id).expires, t(122.5))
    }

    func testRepliedFlowYoungerThanTwoSecondsStaysOnUDPTimeout() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let flow = udp("10.244.0.2", 1000, "10.244.0.3", 8080)
        let id = open(ct, flow, at: t(10))
        pass(ct, flow.inverted, at: t(10.2))
        pass(ct, flow, at: t(11))
        pass(ct, flow.inverted, at: t(11.9))
        XCTAssertTrue(ct.entry(id).status.contains(.seenReply))
        XCTAssertFalse(ct.entry(id).status.contains(.assured))
        XCTAssertEqual(ct.entry(id).expires, t(41.9))
    }

    func testICMPAndGenericTimeouts() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let ping = ConntrackTuple.icmp(ip("10.244.0.2"), ip("10.244.1.2"), type: 8, code: 0, identifier: 7)
        let pingID = open(ct, ping, at: t(0))
        pass(ct, ping.inverted, at: t(5))
        XCTAssertEqual(ct.entry(pingID).expires, t(35))
        XCTAssertFalse(ct.entry(pingID).status.contains(.assured), "ICMP is never ASSURED")
        let igmp = ConntrackTuple(source: ip("10.244.0.1"), destination: ip("224.0.0.22"), sourcePort: 0,
                                  destinationPort: 0, protocolNumber: 2)
        let igmpID = open(ct, igmp, at: t(1))
        XCTAssertEqual(ct.entry(igmpID).expires, t(601))
    }

    func testCustomTimeouts() {
        let timeouts = ConntrackTimeouts(udp: .seconds(10), udpStream: .seconds(60), icmp: .seconds(5),
                                         generic: .seconds(100))
        let ct = ConnectionTracker(maximum: 100, timeouts: timeouts, seed: 1)
        let id = open(ct, udp("10.0.0.1", 1, "10.0.0.2", 2), at: t(0))
        XCTAssertEqual(ct.entry(id).expires, t(10))
    }

    func testExpireSweepsOnlyExpiredEntries() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        for i in 0..<5 { open(ct, udp("10.0.0.1", UInt16(1000 + i), "10.0.0.2", 53), at: t(Double(i))) }
        XCTAssertEqual(ct.expire(now: t(31.5)), 2)  // last packets at 0 s and 1 s
        XCTAssertEqual(ct.count, 3)
        XCTAssertEqual(ct.expire(now: t(31.5)), 0)
        XCTAssertEqual(ct.expire(now: t(100)), 3)
        XCTAssertEqual(ct.count, 0)
        XCTAssertTrue(ct.checkInvariants())
    }

    // MARK: - Table full

    func testFullTableOfAssuredEntriesDropsNewFlowsButKeepsEstablishedOnes() {
        let ct = ConnectionTracker(maximum: 4, seed: 1)
        let flows = (0..<4).map { udp("10.244.0.2", UInt16(2000 + $0), "10.244.1.2", 8080) }
        for flow in flows { _ = openAssured(ct, flow, at: t(0)) }
        XCTAssertEqual(ct.count, 4)
        XCTAssertNil(ct.create(original: udp("10.244.0.2", 3000, "10.244.1.2", 8080), now: t(4)))
        XCTAssertEqual(ct.statistics.drop, 1)
        XCTAssertEqual(ct.tableFullDrops, 1)
        XCTAssertEqual(ct.statistics.earlyDrop, 0)
        for flow in flows {
            XCTAssertNotNil(ct.find(flow, now: t(5)))
            XCTAssertNotNil(ct.find(flow.inverted, now: t(5)))
        }
        XCTAssertEqual(ct.count, 4)
    }

    func testEarlyDropEvictsAnUnassuredEntry() {
        let ct = ConnectionTracker(maximum: 4, seed: 1)
        for i in 0..<3 { _ = openAssured(ct, udp("10.244.0.2", UInt16(2000 + i), "10.244.1.2", 8080), at: t(0)) }
        let probe = udp("10.244.0.2", 2999, "10.244.1.9", 8080)
        open(ct, probe, at: t(3))   // unassured (never replied)
        let newcomer = ct.create(original: udp("10.244.0.2", 3000, "10.244.1.2", 8080), now: t(4))
        XCTAssertNotNil(newcomer)
        XCTAssertEqual(ct.statistics.earlyDrop, 1)
        XCTAssertEqual(ct.statistics.drop, 0)
        XCTAssertNil(ct.find(probe, now: t(4)))
        XCTAssertEqual(ct.count, 3)
        XCTAssertTrue(ct.checkInvariants())
    }

    func testEarlyDropPrefersTheUnassuredEntryNearestExpiry() {
        let ct = ConnectionTracker(maximum: 3, seed: 1)
        let old = udp("10.0.0.1", 1, "10.0.0.9", 9)
        let young = udp("10.0.0.1", 2, "10.0.0.9", 9)
        open(ct, old, at: t(0))
        open(ct, young, at: t(10))
        _ = openAssured(ct, udp("10.0.0.1", 3, "10.0.0.9", 9), at: t(10))
        XCTAssertNotNil(ct.create(original: udp("10.0.0.1", 4, "10.0.0.9", 9), now: t(20)))
        XCTAssertNil(ct.find(old, now: t(20)))
        XCTAssertNotNil(ct.find(young, now: t(20)))
    }

    func testAFullTableReapsAnExpiredEntryWithoutCountingEarlyDrop() {
        let ct = ConnectionTracker(maximum: 2, seed: 1)
        _ = openAssured(ct, udp("10.0.0.1", 1, "10.0.0.9", 9), at: t(0))  // expires at 123 s
        _ = openAssured(ct, udp("10.0.0.1", 2, "10.0.0.9", 9), at: t(100))
        XCTAssertNotNil(ct.create(original: udp("10.0.0.1", 3, "10.0.0.9", 9), now: t(200)))
        XCTAssertEqual(ct.statistics.earlyDrop, 0)
        XCTAssertEqual(ct.statistics.drop, 0)
    }

    // MARK: - NAT

    func testSetReplyFlagsDestinationNAT() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let original = udp("10.244.0.2", 45596, "10.96.0.20", 80)
        let id = ct.create(original: original, now: t(0))!
        XCTAssertEqual(ct.entry(id).status, [])
        ct.setReply(id, udp("10.244.0.3", 8080, "10.244.0.2", 45596))
        XCTAssertEqual(ct.entry(id).status, [.dstNAT])
        XCTAssertEqual(ct.state(id, direction: .original), [.new, .dnat])
    }

    func testSetReplyFlagsSourceNATAndBoth() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        // Egress masquerade: replies go to the node's address and a new port.
        let masq = ct.create(original: udp("10.244.0.2", 39342, "192.168.50.100", 9000), now: t(0))!
        ct.setReply(masq, udp("192.168.50.100", 9000, "192.168.50.11", 61946))
        XCTAssertEqual(ct.entry(masq).status, [.srcNAT])
        // NodePort: DNAT in PREROUTING, then SNAT in POSTROUTING.
        let nodePort = ct.create(original: udp("192.168.50.100", 37502, "192.168.50.12", 30080), now: t(0))!
        ct.setReply(nodePort, udp("10.244.0.3", 8080, "192.168.50.100", 37502))
        ct.setReply(nodePort, udp("10.244.0.3", 8080, "10.244.1.0", 45874))
        XCTAssertEqual(ct.entry(nodePort).status, [.srcNAT, .dstNAT])
        XCTAssertEqual(ct.state(nodePort, direction: .original), [.new, .snat, .dnat])
        // An SNAT that only changes the port still counts.
        let portOnly = ct.create(original: udp("10.0.0.1", 500, "10.0.0.2", 53), now: t(0))!
        ct.setReply(portOnly, udp("10.0.0.2", 53, "10.0.0.1", 600))
        XCTAssertEqual(ct.entry(portOnly).status, [.srcNAT])
        // No change, no flag.
        let plain = ct.create(original: udp("10.0.0.1", 501, "10.0.0.2", 53), now: t(0))!
        ct.setReply(plain, udp("10.0.0.2", 53, "10.0.0.1", 501))
        XCTAssertEqual(ct.entry(plain).status, [])
    }

    func testStateFollowsResolveNormalCt() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let flow = udp("10.244.0.2", 1000, "10.244.0.3", 8080)
        let id = open(ct, flow, at: t(0))
        XCTAssertEqual(ct.state(id, direction: .original), .new)
        XCTAssertEqual(ct.state(id, direction: .reply), .established)
        pass(ct, flow.inverted, at: t(0.1))
        XCTAssertEqual(ct.state(id, direction: .original), .established)
    }

    func testUniqueReplyTupleKeepsAFreePort() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        var random = SeededGenerator(seed: 9)
        let before = random
        let wanted = udp("192.168.50.100", 9000, "192.168.50.11", 39342)
        let chosen = ct.uniqueReplyTuple(wanted, portRange: nil, randomFully: false, random: &random, ignoring: nil)
        XCTAssertEqual(chosen, wanted)
        var untouched = before
        XCTAssertEqual(random.next(), untouched.next(), "no random draw when the port is kept")
    }

    func testUniqueReplyTuplePicksAnotherPortWhenTaken() throws {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let wanted = udp("192.168.50.100", 9000, "192.168.50.11", 39342)
        open(ct, udp("10.244.0.2", 39342, "192.168.50.100", 9000), reply: wanted, at: t(0))
        XCTAssertTrue(ct.isReplyTupleTaken(wanted, ignoring: nil))
        XCTAssertEqual(ct.statistics.found, 1)
        let second = ct.create(original: udp("10.244.0.3", 39342, "192.168.50.100", 9000), now: t(1))!
        var random = SeededGenerator(seed: 9)
        let chosen = ct.uniqueReplyTuple(wanted, portRange: nil, randomFully: false, random: &random,
                                         ignoring: second)
        let port = try XCTUnwrap(chosen).destinationPort
        XCTAssertNotEqual(port, 39342)
        XCTAssertTrue((1024...65535).contains(port))
        XCTAssertEqual(chosen?.source, wanted.source)
        XCTAssertEqual(chosen?.sourcePort, wanted.sourcePort)
        ct.setReply(second, chosen!)
        XCTAssertEqual(ct.confirm(second, now: t(1)), .confirmed)
    }

    func testUniqueReplyTupleIgnoresTheSameFlow() {
        // nf_conntrack_tuple_taken: an entry with the same original tuple is the same flow.
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let original = udp("10.244.0.2", 39342, "192.168.50.100", 9000)
        let wanted = udp("192.168.50.100", 9000, "192.168.50.11", 39342)
        open(ct, original, reply: wanted, at: t(0))
        let racer = ct.create(original: original, now: t(0))!
        XCTAssertFalse(ct.isReplyTupleTaken(wanted, ignoring: racer))
        XCTAssertTrue(ct.isReplyTupleTaken(wanted, ignoring: nil))
    }

    func testUniqueReplyTupleUsesTheOriginalPortsBand() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        for (port, band) in [(UInt16(123), UInt16(1)...511), (700, 600...1023)] {
            let wanted = udp("192.168.50.100", 53, "192.168.50.11", port)
            open(ct, udp("10.244.0.2", port, "192.168.50.100", 53), reply: wanted, at: t(0))
            var random = SeededGenerator(seed: 3)
            let chosen = ct.uniqueReplyTuple(wanted, portRange: nil, randomFully: false, random: &random, ignoring: nil)
            XCTAssertTrue(band.contains(chosen!.destinationPort), "\(port) → \(chosen!.destinationPort)")
            XCTAssertNotEqual(chosen!.destinationPort, port)
        }
    }

    func testUniqueReplyTupleRandomFullyDrawsASeededPort() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let wanted = udp("192.168.50.100", 9000, "192.168.50.11", 39342)
        var ports = Set<UInt16>()
        for seed in UInt64(1)...8 {
            var a = SeededGenerator(seed: seed)
            var b = SeededGenerator(seed: seed)
            let first = ct.uniqueReplyTuple(wanted, portRange: nil, randomFully: true, random: &a, ignoring: nil)!
            let again = ct.uniqueReplyTuple(wanted, portRange: nil, randomFully: true, random: &b, ignoring: nil)!
            XCTAssertEqual(first, again, "deterministic for a given generator")
            XCTAssertTrue((1024...65535).contains(first.destinationPort))
            ports.insert(first.destinationPort)
        }
        XCTAssertGreaterThan(ports.count, 4, "different seeds give different ports")
        // With a port range, the port lands in it.
        var r = SeededGenerator(seed: 5)
        let ranged = ct.uniqueReplyTuple(wanted, portRange: 30000...30009, randomFully: true, random: &r, ignoring: nil)
        XCTAssertTrue((30000...30009).contains(ranged!.destinationPort))
    }

    func testUniqueReplyTupleKeepsAFreePortInsideTheRangeAndReturnsNilWhenExhausted() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        var random = SeededGenerator(seed: 5)
        let inside = udp("192.168.50.100", 9000, "192.168.50.11", 5000)
        XCTAssertEqual(ct.uniqueReplyTuple(inside, portRange: 5000...5001, randomFully: false, random: &random,
                                           ignoring: nil), inside)
        let outside = udp("192.168.50.100", 9000, "192.168.50.11", 40000)
        let moved = ct.uniqueReplyTuple(outside, portRange: 5000...5001, randomFully: false, random: &random,
                                        ignoring: nil)
        XCTAssertTrue((5000...5001).contains(moved!.destinationPort))
        for (i, port) in [UInt16(5000), 5001].enumerated() {
            open(ct, udp("10.244.0.\(i + 2)", 40000, "192.168.50.100", 9000),
                 reply: udp("192.168.50.100", 9000, "192.168.50.11", port), at: t(0))
        }
        XCTAssertNil(ct.uniqueReplyTuple(outside, portRange: 5000...5001, randomFully: false, random: &random,
                                         ignoring: nil))
        // Expired holders do not block the range.
        XCTAssertNotNil(ct.uniqueReplyTuple(outside, portRange: 5000...5001, randomFully: false, random: &random,
                                            ignoring: nil, now: t(31)))
    }

    func testUniqueReplyTupleRemapsTheICMPIdentifier() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        let ping = ConntrackTuple.icmp(ip("10.244.0.2"), ip("192.168.50.100"), type: 8, code: 0, identifier: 77)
        let wanted = ConntrackTuple.icmp(ip("192.168.50.100"), ip("192.168.50.11"), type: 0, code: 0, identifier: 77)
        let first = open(ct, ping, reply: wanted, at: t(0))
        XCTAssertEqual(ct.entry(first).status, [.confirmed, .srcNAT])
        let other = ct.create(original: .icmp(ip("10.244.0.3"), ip("192.168.50.100"), type: 8, code: 0,
                                               identifier: 77), now: t(0))!
        var random = SeededGenerator(seed: 2)
        let chosen = ct.uniqueReplyTuple(wanted, portRange: nil, randomFully: false, random: &random, ignoring: other)!
        XCTAssertNotEqual(chosen.icmpIdentifier, 77)
        XCTAssertEqual(chosen.destinationPort, wanted.destinationPort)
    }

    // MARK: - conntrack -L

    func testListFormatsLikeConntrackTools() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        // ClusterIP DNAT, replied (reference: pi-1, "udp 17 28 … 10.96.0.20 … sport=45596").
        let dnat = udp("10.244.0.2", 45596, "10.96.0.20", 80)
        open(ct, dnat, reply: udp("10.244.0.3", 8080, "10.244.0.2", 45596), at: t(0))
        pass(ct, udp("10.244.0.3", 8080, "10.244.0.2", 45596), at: t(0.1))
        // VXLAN outer flow, never answered on that port.
        open(ct, udp("192.168.50.11", 34544, "192.168.50.12", 8472), at: t(-11.4))
        // Ping.
        let ping = ConntrackTuple.icmp(ip("10.244.0.2"), ip("10.244.1.2"), type: 8, code: 0, identifier: 30173)
        open(ct, ping, at: t(-11.5))
        pass(ct, ping.inverted, at: t(-11.4))
        // IGMP report (generic tracker).
        open(ct, ConntrackTuple(source: ip("10.244.0.1"), destination: ip("224.0.0.22"), sourcePort: 0,
                                destinationPort: 0, protocolNumber: 2), at: t(-17))
        // An assured stream.
        _ = openAssured(ct, udp("10.244.0.2", 49005, "10.244.0.3", 8080), at: t(-1.5))

        let now = t(1.6)
        XCTAssertEqual(ct.list(now: now), [
            "icmp     1 17 src=10.244.0.2 dst=10.244.1.2 type=8 code=0 id=30173 src=10.244.1.2 dst=10.244.0.2 type=0 code=0 id=30173 mark=0 use=1",
            "unknown  2 581 src=10.244.0.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=10.244.0.1 mark=0 use=1",
            "udp      17 28 src=10.244.0.2 dst=10.96.0.20 sport=45596 dport=80 src=10.244.0.3 dst=10.244.0.2 sport=8080 dport=45596 mark=0 use=1",
            "udp      17 119 src=10.244.0.2 dst=10.244.0.3 sport=49005 dport=8080 src=10.244.0.3 dst=10.244.0.2 sport=8080 dport=49005 [ASSURED] mark=0 use=1",
            "udp      17 17 src=192.168.50.11 dst=192.168.50.12 sport=34544 dport=8472 [UNREPLIED] src=192.168.50.12 dst=192.168.50.11 sport=8472 dport=34544 mark=0 use=1",
        ])
        XCTAssertEqual(ConnectionTracker.listSummary(count: 5),
                       "conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.")
    }

    func testExtendedListMatchesTheReferenceDumpLayout() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        // "Masqueraded to an unreachable gateway" in the reference: DNAT+SNAT, no reply.
        let original = udp("10.244.0.2", 44799, "10.96.0.21", 80)
        let id = open(ct, original, reply: udp("10.96.0.21", 80, "192.168.50.11", 36413), at: t(0))
        let line = ct.list(now: t(7), extended: true)
        XCTAssertEqual(line, ["ipv4     2 udp      17 23 src=10.244.0.2 dst=10.96.0.21 sport=44799 dport=80 [UNREPLIED] src=10.96.0.21 dst=192.168.50.11 sport=80 dport=36413 mark=0 use=1 id=\(ct.entry(id).id)"])
        XCTAssertEqual(ct.list(now: t(7), layer3: false, showID: true),
                       ["udp      17 23 src=10.244.0.2 dst=10.96.0.21 sport=44799 dport=80 [UNREPLIED] src=10.96.0.21 dst=192.168.50.11 sport=80 dport=36413 mark=0 use=1 id=\(ct.entry(id).id)"])
    }

    func testListRoundsTheTimeoutDownAndHidesExpiredAndUnconfirmedEntries() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        open(ct, udp("10.0.0.1", 1, "10.0.0.2", 2), at: t(0))
        _ = ct.create(original: udp("10.0.0.1", 3, "10.0.0.2", 4), now: t(0))
        XCTAssertEqual(ct.list(now: t(29.999)).count, 1)
        XCTAssertTrue(ct.list(now: t(29.999))[0].hasPrefix("udp      17 0 src=10.0.0.1"))
        XCTAssertEqual(ct.list(now: t(30)), [])
    }

    func testListPrintsCountersWhenAccountingIsOn() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        ct.accounting = true
        let flow = udp("10.0.0.1", 1, "10.0.0.2", 2)
        open(ct, flow, at: t(0))
        pass(ct, flow.inverted, at: t(1))
        XCTAssertEqual(ct.list(now: t(1)), ["udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 packets=1 bytes=64 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 packets=1 bytes=64 mark=0 use=1"])
    }

    func testStatisticsLineMatchesConntrackS() {
        let ct = ConnectionTracker(maximum: 100, seed: 1)
        XCTAssertEqual(ct.statisticsLine(), "cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 ")
        open(ct, udp("10.0.0.1", 1, "10.0.0.2", 2), at: t(0))
        ct.recordInvalid()
        XCTAssertTrue(ct.statisticsLine().contains("invalid=1 insert=0 "))
    }

    func testIDsAndOrderAreDeterministicPerSeed() {
        func run(seed: UInt64) -> [String] {
            let ct = ConnectionTracker(maximum: 1000, seed: seed)
            var random = SeededGenerator(seed: 11)
            for _ in 0..<200 {
                let port = UInt16(truncatingIfNeeded: random.next() % 5000 + 1024)
                let host = UInt8(truncatingIfNeeded: random.next() % 4 + 2)
                if let id = ct.create(original: .udp(IPv4Address(10, 244, 0, host), port, IPv4Address(10, 96, 0, 10), 53),
                                      now: t(0)) {
                    _ = ct.confirm(id, now: t(0))
                }
            }
            return ct.list(now: t(1), extended: true)
        }
        let a = run(seed: 1)
        XCTAssertEqual(a, run(seed: 1))
        let b = run(seed: 2)
        XCTAssertEqual(a.count, b.count)
        XCTAssertNotEqual(a, b, "ids derive from the seed")
        let strip = { (lines: [String]) in lines.map { $0.split(separator: " ").dropLast().joined(separator: " ") } }
        XCTAssertEqual(strip(a), strip(b), "order does not depend on the seed")
        XCTAssertEqual(Set(a.map { $0.split(separator: " ").last! }).count, a.count, "ids are distinct")
    }

    // MARK: - Growth and the reference model

    func testGrowthKeepsEveryEntryFindable() {
        let ct = ConnectionTracker(maximum: 0, seed: 3)  // 0: no limit
        let flows = (0..<5000).map { udp("10.244.\($0 / 250).\($0 % 250 + 1)", UInt16(1000 + $0), "10.96.0.10", 53) }
        for flow in flows { open(ct, flow, at: t(0)) }
        XCTAssertEqual(ct.count, 5000)
        XCTAssertTrue(ct.checkInvariants())
        for flow in flows {
            XCTAssertEqual(ct.find(flow, now: t(1))?.1, .original)
            XCTAssertEqual(ct.find(flow.inverted, now: t(1))?.1, .reply)
        }
        // Refresh every other flow, then let the rest expire.
        for flow in flows.enumerated() where flow.offset % 2 == 0 { pass(ct, flow.element, at: t(20)) }
        XCTAssertEqual(ct.expire(now: t(30)), 2500)
        XCTAssertTrue(ct.checkInvariants())
        for (i, flow) in flows.enumerated() { XCTAssertEqual(ct.find(flow, now: t(31)) != nil, i % 2 == 0) }
    }

    /// 10,000 random operations against a model built on a Swift Dictionary.
    func testRandomOperationsMatchADictionaryModel() {
        struct ModelEntry {
            var original: ConntrackTuple
            var reply: ConntrackTuple
            var confirmed = false
            var expires = Int64.max
            var pending: Int64
            var streamDeadline: Int64
            var status: ConntrackStatus = []
        }
        let timeouts = ConntrackTimeouts.linux
        let ct = ConnectionTracker(maximum: 0, seed: 77)
        var model: [Int32: ModelEntry] = [:]
        var index: [ConntrackTuple: (Int32, ConntrackDirection)] = [:]
        var pendingIDs: [Int32] = []
        var hidden = 0
        var random = SeededGenerator(seed: 2024)
        var nowNS: Int64 = 0
        let service = IPv4Address(10, 96, 0, 10)

        func randomTuple() -> ConntrackTuple {
            let client = IPv4Address(10, 244, 0, UInt8(truncatingIfNeeded: random.next() % 4 + 2))
            if random.next() % 8 == 0 {
                return .icmp(client, service, type: 8, code: 0, identifier: UInt16(truncatingIfNeeded: random.next() % 4))
            }
            return .udp(client, UInt16(truncatingIfNeeded: 1000 + random.next() % 12), service, 53)
        }
        func removeModel(_ key: Int32) {
            let e = model.removeValue(forKey: key)!
            // A hidden (natClash) entry is indexed by its reply only; its original is the winner's.
            if index[e.original]?.0 == key { index[e.original] = nil }
            if index[e.reply]?.0 == key { index[e.reply] = nil }
        }
        func modelFind(_ tuple: ConntrackTuple) -> (Int32, ConntrackDirection)? {
            guard let hit = index[tuple] else { return nil }
            if model[hit.0]!.expires <= nowNS {
                removeModel(hit.0)
                return nil
            }
            return hit
        }
        func modelPacket(_ key: Int32, _ direction: ConntrackDirection) {
            var e = model[key]!
            if !e.confirmed { e.streamDeadline = nowNS + 2_000_000_000 }
            var timeout: Int64
            if e.original.protocolNumber == 17 {
                timeout = timeouts.udp.nanoseconds
                if e.status.contains(.seenReply) && nowNS > e.streamDeadline {
                    timeout = timeouts.udpStream.nanoseconds
                    if !e.status.contains(.natClash) { e.status.insert(.assured) }
                }
            } else {
                timeout = timeouts.icmp.nanoseconds
            }
            if e.status.contains(.fixedTimeout) {
            } else if e.confirmed { e.expires = nowNS + timeout } else { e.pending = timeout }
            if direction == .reply { e.status.insert(.seenReply) }
            model[key] = e
        }

        for step in 0..<10_000 {
            let now = SimTime(nanoseconds: nowNS)
            switch random.next() % 100 {
            case 0..<25:  // new flow, sometimes DNATed to one of three backends
                let original = randomTuple()
                let id = ct.create(original: original, now: now)!
                XCTAssertNil(model[id.rawValue], "a live id was handed out twice")
                var entry = ModelEntry(original: original, reply: original.inverted, pending: 30_000_000_000,
                                       streamDeadline: nowNS + 2_000_000_000)
                model[id.rawValue] = entry
                if original.protocolNumber == 17 && random.next() % 2 == 0 {
                    let backend = IPv4Address(10, 244, 1, UInt8(truncatingIfNeeded: random.next() % 3 + 2))
                    let reply = ConntrackTuple.udp(backend, 8080, original.source, original.sourcePort)
                    ct.setReply(id, reply)
                    entry.reply = reply
                    entry.status.insert(.dstNAT)
                    model[id.rawValue] = entry
                }
                ct.packet(id, direction: .original, length: 80, now: now)
                modelPacket(id.rawValue, .original)
                pendingIDs.append(id.rawValue)
            case 25..<45:  // confirm (or discard) a pending entry
                guard !pendingIDs.isEmpty else { continue }
                let key = pendingIDs.remove(at: Int(random.next() % UInt64(pendingIDs.count)))
                if random.next() % 10 == 0 {
                    ct.discard(ConntrackEntryID(rawValue: key))
                    model[key] = nil
                    continue
                }
                var e = model[key]!
                // nf_ct_resolve_clash: a UDP loser merges into a holder with its original and
                // reply tuples; else it goes in by its reply tuple if that is free (hidden, 1 s);
                // anything else fails.
                let holder = modelFind(e.original) ?? modelFind(e.reply)
                func same(_ k: Int32) -> Bool { model[k]!.original == e.original && model[k]!.reply == e.reply }
                let expected: ConnectionTracker.ConfirmResult
                if holder == nil {
                    expected = .confirmed
                } else if e.original.protocolNumber != 17 {
                    expected = .failed
                } else if same(holder!.0) {
                    expected = .merged(ConntrackEntryID(rawValue: holder!.0))
                } else if let replyHolder = modelFind(e.reply) {
                    expected = same(replyHolder.0) ? .merged(ConntrackEntryID(rawValue: replyHolder.0)) : .failed
                } else {
                    expected = .insertedByReply
                }
                XCTAssertEqual(ct.confirm(ConntrackEntryID(rawValue: key), now: now), expected, "step \(step)")
                if expected == .insertedByReply {
                    e.confirmed = true
                    e.expires = nowNS + 1_000_000_000
                    e.status.insert([.confirmed, .fixedTimeout, .natClash])
                    model[key] = e
                    index[e.reply] = (key, .reply)
                    hidden += 1
                } else if holder != nil {
                    model[key] = nil
                } else {
                    e.confirmed = true
                    e.expires = nowNS + e.pending
                    e.status.insert(.confirmed)
                    model[key] = e
                    index[e.original] = (key, .original)
                    index[e.reply] = (key, .reply)
                }
            case 45..<80:  // a packet of some flow, either way
                let base = randomTuple()
                let key = random.next() % 2 == 0 ? base : (index.keys.sorted().randomElement(using: &random) ?? base)
                let got = ct.find(key, now: now)
                let expected = modelFind(key)
                XCTAssertEqual(got?.0.rawValue, expected?.0, "step \(step): find \(key)")
                XCTAssertEqual(got?.1, expected?.1, "step \(step)")
                if let (id, direction) = got, expected != nil {
                    ct.packet(id, direction: direction, length: 80, now: now)
                    modelPacket(id.rawValue, direction)
                    XCTAssertEqual(ct.entry(id).expires.nanoseconds, model[id.rawValue]!.expires)
                    XCTAssertEqual(ct.entry(id).status, model[id.rawValue]!.status, "step \(step)")
                }
            case 80..<97:  // time passes
                nowNS += Int64(random.next() % 4_000_000_000)
            default:  // gc sweep
                let expired = model.filter { $0.value.confirmed && $0.value.expires <= nowNS }.map(\.key)
                XCTAssertEqual(ct.expire(now: now), expired.count, "step \(step)")
                for key in expired { removeModel(key) }
            }
            XCTAssertEqual(ct.count, model.values.filter(\.confirmed).count, "step \(step)")
            XCTAssertEqual(ct.unconfirmedCount, pendingIDs.count, "step \(step)")
            if step % 500 == 0 { XCTAssertTrue(ct.checkInvariants(), "step \(step)") }
        }
        XCTAssertTrue(ct.checkInvariants())
        XCTAssertGreaterThan(hidden, 10, "the walk should make hidden entries")
        let live = model.values.filter { $0.confirmed && $0.expires > nowNS && !$0.status.contains(.natClash) }
            .sorted { $0.original < $1.original }
        XCTAssertEqual(ct.entries(now: SimTime(nanoseconds: nowNS)).map(\.original), live.map(\.original))
        XCTAssertEqual(ct.entries(now: SimTime(nanoseconds: nowNS)).map(\.reply), live.map(\.reply))
    }
}
