// swift-tools-version: 6.1
// podwire's benchmark suite (ordo-one/benchmark): the engine hold model, the UDP paths
// (bridged, cross-node VXLAN, ClusterIP) with capture off and on, the 250-node scale build
// and a 50-node topology-file replay, with malloc counts. Run:
// `make benchmarks` from the top, or `swift package --allow-writing-to-package-directory
// benchmark` here. See README.md.
import PackageDescription

let package = Package(
    name: "PodwireBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "podwire", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "PodwireBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PodwireKit", package: "podwire"),
                .product(name: "Engine", package: "podwire"),
                .product(name: "Topology", package: "podwire"),
                .product(name: "Traffic", package: "podwire"),
            ],
            path: "Benchmarks/PodwireBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
