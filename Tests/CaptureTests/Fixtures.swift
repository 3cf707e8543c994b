/// Shared test fixtures: hand-built Ethernet/IPv4/UDP and ARP frames (bytes written out
/// here, checksums per RFC 1071 / RFC 768), a small two-node topology of interfaces, a
/// scratch directory per test, and a runner for the external tools tshark and tcpdump.
import Capture
import Datapath
import Engine
import Foundation
import Testing

enum Frames {
    static let podMAC: [UInt8] = [0x02, 0x44, 0x0a, 0xf4, 0x00, 0x02]
    static let gatewayMAC: [UInt8] = [0x02, 0x44, 0x00, 0x00, 0x00, 0x01]

    /// Ethernet II + IPv4 (20-byte header, DF, TTL 64) + UDP with correct checksums.
    static func udp(from source: [UInt8] = [10, 244, 0, 2], to destination: [UInt8] = [10, 244, 1, 2],
                    sourcePort: UInt16 = 40000, destinationPort: UInt16 = 8080,
                    payload: [UInt8] = Array("hello podwire".utf8), identification: UInt16 = 1) -> [UInt8] {
        let udpLength = 8 + payload.count
        let totalLength = 20 + udpLength
        var ip: [UInt8] = [
            0x45, 0x00, UInt8(totalLength >> 8), UInt8(totalLength & 0xff),
            UInt8(identification >> 8), UInt8(identification & 0xff), 0x40, 0x00,
            64, 17, 0, 0,
        ] + source + destination
        let ipSum = checksum(ip)
        ip[10] = UInt8(ipSum >> 8)
        ip[11] = UInt8(ipSum & 0xff)

        var udp: [UInt8] = [
            UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff),
            UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff),
            UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0,
        ] + payload
        let pseudo = source + destination + [0, 17, UInt8(udpLength >> 8), UInt8(udpLength & 0xff)]
        var udpSum = checksum(pseudo + udp)
        if udpSum == 0 { udpSum = 0xffff }
        udp[6] = UInt8(udpSum >> 8)
        udp[7] = UInt8(udpSum & 0xff)

        return gatewayMAC + podMAC + [0x08, 0x00] + ip + udp
    }

    /// A UDP frame of exactly `length` bytes on the wire.
    static func udp(length: Int, destinationPort: UInt16 = 8080) -> [UInt8] {
        let payload = (0..<(length - 42)).map { UInt8(truncatingIfNeeded: $0) }
        return udp(destinationPort: destinationPort, payload: payload)
    }

    /// ARP request "who has 10.244.0.1? tell 10.244.0.2", broadcast.
    static func arpRequest() -> [UInt8] {
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + podMAC + [0x08, 0x06]
            + [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]
            + podMAC + [10, 244, 0, 2]
            + [0, 0, 0, 0, 0, 0] + [10, 244, 0, 1]
    }

    /// RFC 1071 one's-complement sum.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

/// Two nodes; pi-1 has its own namespace's eth0/cni0/veth/lo and a pod "client";
/// pi-2 has eth0 and a pod "server". Device ids are deliberately not in file-name order.
enum SampleCluster {
    static let interfaces: [CaptureInterface] = [
        .init(device: DeviceID(3), fileStem: "pi-1-eth0", node: "pi-1", namespace: "pi-1",
              interface: "eth0", mac: "02:44:00:00:00:01", ipv4: ["192.168.1.11/24"]),
        .init(device: DeviceID(0), fileStem: "pi-1-lo", node: "pi-1", namespace: "pi-1",
              interface: "lo", mac: "00:00:00:00:00:00", ipv4: ["127.0.0.1/8"]),
        .init(device: DeviceID(4), fileStem: "pi-1-cni0", node: "pi-1", namespace: "pi-1",
              interface: "cni0", mac: "02:44:00:00:00:02", ipv4: ["10.244.0.1/24"]),
        .init(device: DeviceID(5), fileStem: "pi-1-veth1a2b3c4d", node: "pi-1", namespace: "pi-1",
              interface: "veth1a2b3c4d", mac: "02:44:00:00:00:03", ipv4: []),
        .init(device: DeviceID(6), fileStem: "pi-1-client-eth0", node: "pi-1", namespace: "client",
              interface: "eth0", mac: "02:44:0a:f4:00:02", ipv4: ["10.244.0.2/24"]),
        .init(device: DeviceID(7), fileStem: "pi-1-client-lo", node: "pi-1", namespace: "client",
              interface: "lo", mac: "00:00:00:00:00:00", ipv4: ["127.0.0.1/8"]),
        .init(device: DeviceID(10), fileStem: "pi-2-eth0", node: "pi-2", namespace: "pi-2",
              interface: "eth0", mac: "02:44:00:00:01:01", ipv4: ["192.168.1.12/24"]),
        .init(device: DeviceID(12), fileStem: "pi-2-server-eth0", node: "pi-2", namespace: "server",
              interface: "eth0", mac: "02:44:0a:f4:01:02", ipv4: ["10.244.1.2/24"]),
    ]

    static func device(_ stem: String) -> DeviceID {
        interfaces.first { $0.fileStem == stem }!.device
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("podwire-capture-tests/\(safe)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
    func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: file(name)))) }
    func text(_ name: String) throws -> String { String(decoding: try bytes(name), as: UTF8.self) }
    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file(name)))
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

extension PcapCapture {
    /// Feeds one frame as one hop.
    func observe(_ frame: [UInt8], at nanoseconds: Int64, on device: DeviceID, _ stage: HopStage = .deviceTx) {
        frame.withUnsafeBytes {
            observe(Hop(time: SimTime(nanoseconds: nanoseconds), namespace: NamespaceID(0), device: device,
                        stage: stage, dropReason: stage == .drop ? .noRoute : nil), frame: $0)
        }
    }
}

/// Runs the external tools the project's `make test` installs. A missing tool is a test
/// failure with the command to install it, never a silent skip.
enum ExternalTool {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func locate(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// nil (after recording an issue naming the package to install) if the tool is missing.
    static func run(_ name: String, _ arguments: [String], package: String,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Output? {
        guard let executable = locate(name) else {
            let message = "\(name) is not on PATH; install it (apt-get install -y \(package)); "
                + "`make test` installs it. This test does not skip."
            Issue.record("\(message)", sourceLocation: sourceLocation)
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}
