// Wire: the bytes of the protocols podwire moves — Ethernet II, ARP, IPv4, UDP, ICMPv4 —
// and the Internet checksum. No dependencies; everything per packet is `@inlinable` so the
// datapath gets it inlined.
//
// Contract, per protocol (one file each, after smoltcp's `wire`):
// - a header *value* (`Hashable, Sendable` struct) with `init(parsing:) throws(WireError)`
//   over an `UnsafeRawBufferPointer` and `emit(into:)` into an `UnsafeMutableRawBufferPointer`;
// - parsing untrusted bytes never traps: it throws a `WireError`; a successful parse,
//   an emit and a checksum never allocate;
// - emitting is the caller's contract: a buffer too short for the header is a
//   precondition failure, as is a field that cannot be encoded;
// - field offsets are named constants (`IPv4Header.ttlOffset`, …); protocol numbers are
//   lossless wrappers (`EtherType`, `IPProtocol`, `ARPOperation`, `ICMPv4Type`) so unknown
//   values survive a round trip;
// - checksums are computed by `emit` where the header owns them (IPv4, ICMPv4), by
//   `UDPHeader.checksum(source:destination:datagram:)` for UDP, and patched by RFC 1624
//   (`InternetChecksum.update`, `IPv4Header.decrementTTL`) when a hop rewrites a field.
//
// Not modelled: IPv4 option contents (parsed as a header length only, never emitted), the
// IPv4 reserved flag bit, 802.1Q tags (a tagged frame parses with type `.vlan`), IPv6, TCP
// headers, ICMP message bodies beyond the 8-byte header (the caller places them).
//
// (This file holds the module's overview only; no type is named `Wire`, since a type named
// like its module breaks qualified names such as `Wire.IPv4Header`.)
