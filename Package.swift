// swift-tools-version: 6.1
// podwire: a packet-level discrete-event emulator of Kubernetes pod networking.
// Layers (dependencies point down): podwire → PodwireKit → {Topology, Capture, Traffic}
// → Kube → Datapath → {Wire, Engine}.  See README.md and ../shared/STYLE.md.
import PackageDescription

/// Swift checks exclusive access to class properties at run time; on podwire's per-packet
/// path those checks took ~40% of the time (perf: swift_beginAccess, AccessSet::insert,
/// __tls_get_addr). Debug builds — every test — keep them; release builds turn them off.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "podwire",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "podwire", targets: ["podwire"]),
        .library(name: "PodwireKit", targets: ["PodwireKit"]),
        .library(name: "Datapath", targets: ["Datapath"]),
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Kube", targets: ["Kube"]),
        .library(name: "Traffic", targets: ["Traffic"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Topology", targets: ["Topology"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // SHA-256 for kube-proxy's chain names (KUBE-SVC-<base32(sha256(…))>).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // Leaf layers: no dependencies.
        .target(name: "Wire", swiftSettings: hotPath),
        .target(name: "Engine", swiftSettings: hotPath),
        // Linux's stages: namespaces, devices, bridge, routing, neighbours, sockets.
        .target(name: "Datapath", dependencies: ["Wire", "Engine"], swiftSettings: hotPath),
        // Kubernetes objects, IPAM, CNI plugins, scheduler; builds a Datapath world.
        .target(name: "Kube", dependencies: [
            "Datapath", "Wire", "Engine", .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: hotPath),
        // iperf3-style UDP and ping applications running on Datapath sockets.
        .target(name: "Traffic", dependencies: [
            "Datapath", "Wire", "Engine",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], swiftSettings: hotPath),
        // YAML stream → typed, validated configuration (errors carry file:line:col).
        .target(name: "Topology", dependencies: [
            "Wire", "Engine",
            .product(name: "Yams", package: "Yams"),
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
        // libpcap, through the system library; every C call lives in Capture.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "Capture", dependencies: ["CPcap", "Datapath", "Engine"], swiftSettings: hotPath),
        // The commands' logic (run, validate, bench), testable without a process.
        .target(name: "PodwireKit", dependencies: [
            "Topology", "Kube", "Traffic", "Capture", "Datapath", "Wire", "Engine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: hotPath),
        .executableTarget(name: "podwire", dependencies: ["PodwireKit"]),

        .testTarget(name: "WireTests", dependencies: ["Wire", "Engine"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        // Fixtures shared by the Datapath and Traffic tests (a bridged node built on Datapath).
        .target(name: "DatapathTestSupport", dependencies: ["Datapath", "Wire", "Engine"], path: "Tests/DatapathTestSupport"),
        .testTarget(name: "DatapathTests", dependencies: ["Datapath", "Wire", "Engine", "DatapathTestSupport"]),
        .testTarget(name: "KubeTests", dependencies: ["Kube", "Datapath", "Wire", "Engine", "Traffic"]),
        .testTarget(name: "TrafficTests", dependencies: ["Traffic", "Datapath", "Wire", "Engine", "DatapathTestSupport"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology", "Wire", "Engine"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "CPcap", "Datapath", "Engine"]),
        .testTarget(name: "PodwireKitTests", dependencies: ["PodwireKit", "Topology", "Kube", "Datapath", "Capture", "Wire", "Engine"]),
    ]
)
